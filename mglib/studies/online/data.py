"""Study 2 data: subject splits, sequences with their stream tokens and ground truth, the detector's windows, and
the skeleton-only datasets of the difficulty sweeps.

Units (``mglib.windows``): label frames (1-based, at the sequence's fps), decoded frames (0-based, at 10 fps) and
tokens (one per ``interval`` decoded frames).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mglib import paths
from mglib import windows as W
from mglib.errors import InputError


def smg_root(data_root: str, profile: str) -> Path:
    return Path(data_root) if data_root else paths.synthetic_dir("smg", profile)


def data_digest(root: Path) -> str:
    """Fingerprint of a dataset's annotation files (SMG labels and metadata, MMA-52 CSVs): regenerated or
    replaced data gives a new digest, hence new encoder checkpoints and detector runs."""
    root = Path(root)
    files = sorted(root.glob("*/*_finelabels.csv")) + sorted(root.glob("*/*_data.csv")) + sorted(
        root.glob("anns/*.csv"))
    if not files:
        raise InputError(f"{root}: no SMG label files (SampleXXXX/*_finelabels.csv) or MMA-52 anns/*.csv found")
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root)).encode() + f.read_bytes())
    return h.hexdigest()[:16]


def split_subjects(sequences, val_subjects=None) -> tuple[list, list, list]:
    """(train, val, test) sequences: val = the training-range subjects in ``val_subjects`` (default
    ``mglib.data.smg.VAL_SUBJECTS``, 31-35: SMG has no official validation split, a project choice)."""
    from mglib.data.smg import VAL_SUBJECTS, split_of

    val_ids = set(VAL_SUBJECTS if val_subjects is None else val_subjects)
    train = [s for s in sequences if split_of(s.subject) == "train"]
    test = [s for s in sequences if split_of(s.subject) == "test"]
    fit = [s for s in train if s.subject not in val_ids]
    val = [s for s in train if s.subject in val_ids]
    if not fit or not val:
        raise InputError(f"SMG split: needs training subjects both outside and inside the validation subjects "
                         f"{sorted(val_ids)} (found {sorted(s.subject for s in train)})")
    return fit, val, test


def gesture_spans(labels: np.ndarray, fps: float, decode_fps: float) -> np.ndarray:
    """GT rows [label, start, end] (1-based label frames at ``fps``) → (N, 3) [label, first, last] in decoded
    frames (0-based, float)."""
    lab = np.asarray(labels, dtype=np.float64).reshape(-1, 3)
    return np.stack([lab[:, 0], (lab[:, 1] - 1) / fps * decode_fps, (lab[:, 2] - 1) / fps * decode_fps], axis=1)


@dataclass
class Sequence:
    name: str
    split: str  # train / val / test
    num_frames: int
    fps: float
    feats: np.ndarray  # (T_tok, C) stream tokens
    gt: np.ndarray  # (N, 3) [label, start_frame, end_frame] in the source's frames (SMG: label frames, 1-based)
    gt_tok: np.ndarray  # (N, 3) [label, start_tok, end_tok]


def make_sequence(name: str, split: str, num_frames: int, fps: float, feats: np.ndarray, gt: np.ndarray,
                  decode_fps: float, interval: int) -> Sequence:
    """A sequence with its GT (1-based label frames) also in token positions."""
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 3)
    tok = np.stack([gt[:, 0], W.frames_to_tokens(gt[:, 1], fps, decode_fps, interval),
                    W.frames_to_tokens(gt[:, 2], fps, decode_fps, interval)], axis=1)
    return Sequence(name, split, int(num_frames), float(fps), feats, gt, tok)


def _target(t: np.ndarray) -> dict:
    return {"labels": torch.as_tensor(t[:, 0], dtype=torch.long),
            "segments": torch.as_tensor(t[:, 1:], dtype=torch.float32)}


class TrainWindows(Dataset):
    """Training windows of every sequence (stride window·(1 − overlap) + end-aligned; GT-less windows dropped)."""

    def __init__(self, seqs: list[Sequence], window: int, overlap: float):
        self.seqs, self.window = seqs, window
        self.items = [(i, st, t) for i, s in enumerate(seqs)
                      for st, t in W.training_windows(len(s.feats), s.gt_tok, window, overlap)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        i, st, t = self.items[k]
        x = torch.from_numpy(W.slice_window(self.seqs[i].feats, st, self.window).astype(np.float32))
        return x, _target(t)


class TestWindows(Dataset):
    """Inference windows (no overlap + end-aligned) of every sequence: (features, sequence index, start)."""

    def __init__(self, seqs: list[Sequence], window: int):
        self.seqs, self.window = seqs, window
        self.items = [(i, st) for i, s in enumerate(seqs) for st in W.test_starts(len(s.feats), window)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        i, st = self.items[k]
        x = torch.from_numpy(W.slice_window(self.seqs[i].feats, st, self.window).astype(np.float32))
        return x, {"seq": i, "start": st}


def collate(items):
    return torch.stack([x for x, _ in items]), [t for _, t in items]


# ----------------------------------------------------------------------------------------------- sweeps
def sweep_root(profile: str, knob: str, value: float) -> Path:
    return paths.DATA / "synthetic" / profile / "smg_sweeps" / f"{knob}={value:g}"


def ensure_sweep_data(profile: str, knob: str, value: float, seed: int = 0) -> Path:
    """The synthetic SMG of ``profile`` with one generator knob changed, skeletons only (the sweeps read the
    skeleton stream), generated once: regenerated when the generator's code changes."""
    from mglib.data import _generator_digest, synth_smg, synthetic

    out = sweep_root(profile, knob, value)
    key = {"profile": profile, "seed": seed, knob: value, "generator": _generator_digest("smg")}
    marker = out / ".complete"
    if marker.exists() and json.loads(marker.read_text()) == key:
        return out
    if out.exists():
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True)
    synth_smg.generate(synth_smg.PROFILES[profile], out, seed, synthetic.resolve_knobs("smg", **{knob: value}),
                       video=False)
    marker.write_text(json.dumps(key))
    return out
