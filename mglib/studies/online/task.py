"""Study 2 training: the streams' pretraining tasks, the detector task, and the cached runs of every chapter.

Pipeline of one detector run (chapter 20): stream tokens (one per 0.4 s) → training windows of β tokens (overlap
0.75, windows without a complete GT dropped) / test windows (no overlap + end-aligned) → PointTAD → one detection
per query → merged on the sequence → score ≥ τ and same-class NMS (tIoU 0.3) → ``label,start,end`` rows in label
frames (architectures.md §8.1 #8, #9). τ is chosen on the validation subjects (31-35), never on test.

Every run is cached under ``results/cache/online/<profile>/``, keyed by a hash of its resolved config (which holds
the dataset's digest): a second execution reads ``metrics.json`` and ``summary.json`` instead of training.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mglib import paths, records
from mglib import windows as W
from mglib.errors import InputError
from mglib.models.pointtad import PointTAD, PointTADConfig, detections
from mglib.models.pointtad_loss import LossConfig, pointtad_loss
from mglib.studies.online import stream_rgb, stream_skeleton
from mglib.studies.online.config import (MIXERS, OnlineConfig, RGBStreamConfig, SkeletonStreamConfig, StudyConfig,
                                         stream_config)
from mglib.studies.online.data import (Sequence, TestWindows, TrainWindows, collate, data_digest,
                                       ensure_sweep_data, make_sequence, smg_root, split_subjects)
from mglib.train.config import to_dict
from mglib.train.task import Task

TAU_GRID = tuple(round(x, 2) for x in np.arange(0.05, 0.96, 0.05))
SMG_CLASSES = 17


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch CPU threads (0 or a CUDA machine: unchanged), restoring the count after."""
    old = torch.get_num_threads()
    if n and not torch.cuda.is_available():
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_dir(kind: str, cfg) -> Path:
    blob = to_dict(cfg) | {"kernels": records.kernel_env()}  # other kernels, other floats: trained anew
    digest = hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]
    return paths.CACHE / "online" / cfg.profile / f"{kind}_{digest}"


_SMG_CACHE: dict = {}


def read_smg(root: Path) -> tuple[str, list]:
    """(digest, sequences) of an SMG root, read once per process (the skeleton CSVs take seconds)."""
    from mglib.data import smg

    digest = data_digest(root)
    key = (str(Path(root).resolve()), digest)
    if key not in _SMG_CACHE:
        _SMG_CACHE[key] = smg.read_root(root)
    return digest, _SMG_CACHE[key]


# ----------------------------------------------------------------------------------------------- streams
class ClipTask(Task):
    """Pretrain a stream encoder as a clip classifier on gesture (and background) clips of the training subjects;
    the validation subjects pick the epoch."""

    _class_weight = None
    num_classes = SMG_CLASSES

    def clip_sets(self, seqs, train: bool):
        raise NotImplementedError

    def logits(self, model, batch) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def datasets(self):
        _, seqs = read_smg(smg_root(self.cfg.data_root, self.cfg.profile))
        train, val, _ = split_subjects(seqs)
        train_set, val_set = self.clip_sets(train, True), self.clip_sets(val, False)
        counts = np.bincount(train_set.labels, minlength=self.num_classes + 1)
        w = 1.0 / np.sqrt(np.maximum(counts, 1))
        self._class_weight = torch.tensor(w / w.mean(), dtype=torch.float32) if self.cfg.balance else None
        return train_set, val_set

    def loss(self, model, batch):
        logits, y = self.logits(model, batch)
        weight = None if self._class_weight is None else self._class_weight[:logits.shape[1]].to(logits.device)
        loss = F.cross_entropy(logits, y, weight=weight, label_smoothing=0.1 if self.cfg.balance else 0.0)
        return loss, {"acc": float((logits.argmax(-1) == y).float().mean())}

    def evaluate(self, model, loader):
        """Clip accuracy over the gesture classes only (background clips excluded) and the gesture-vs-background
        accuracy beside its majority rate (when there are background clips)."""
        K = self.num_classes
        correct = total = act_ok = n_bg = n_all = 0
        for batch in loader:
            logits, y = self.logits(model, batch)
            g = y < K
            correct += int((logits[g, :K].argmax(-1) == y[g]).sum())
            total += int(g.sum())
            act_ok += int(((logits.argmax(-1) == K) == (y == K)).sum())
            n_bg += int((y == K).sum())
            n_all += len(y)
        acc = correct / max(total, 1)
        out = {"score": acc, "clip_acc": acc, "num_clips": total, "num_background": n_bg}
        if n_bg:  # the detector needs both: which gesture, and whether one happens at all
            out |= {"actionness_acc": act_ok / n_all, "actionness_majority": max(n_bg, n_all - n_bg) / n_all,
                    "score": (acc + act_ok / n_all) / 2}
        return out, None


class SkeletonStreamTask(ClipTask):
    name = "skeleton_stream"
    Config = SkeletonStreamConfig

    def build_model(self):
        return stream_skeleton.build_encoder(self.cfg)

    def clip_sets(self, seqs, train):
        return stream_skeleton.clip_set(self.cfg, seqs, train)

    def collate(self, items):
        return stream_skeleton.collate_clips(items)

    def logits(self, model, batch):
        x, m, y = batch
        return model.classify(x, m), y


class RGBStreamTask(ClipTask):
    name = "rgb_stream"
    Config = RGBStreamConfig

    def build_model(self):
        model = stream_rgb.build_encoder(self.cfg)
        if self.cfg.weights:
            stream_rgb.load_i3d_weights(model, self.cfg.weights)
        return model

    def clip_sets(self, seqs, train):
        return stream_rgb.clip_set(self.cfg, seqs, train)

    def logits(self, model, batch):
        x, y = batch
        return model(x), y


STREAM_TASKS = {"skeleton": SkeletonStreamTask, "rgb": RGBStreamTask}


def weights_as_is(cfg) -> bool:
    """An RGB stream that uses a local I3D file as it is (no pretraining here)."""
    return cfg.stream == "rgb" and bool(cfg.weights) and cfg.optim.epochs == 0


def resolved_stream(cfg):
    """The stream config with the digest of its training data (SMG root) filled in; a weights file used as is
    needs no data."""
    if weights_as_is(cfg):
        return cfg
    return replace(cfg, data_digest=data_digest(smg_root(cfg.data_root, cfg.profile)))


def stream_checkpoint(cfg) -> Path:
    """The weights that define a stream's features: pretrain (or reuse a finished run) and return its
    ``best.safetensors``; an RGB stream with a local I3D file and no pretraining epochs returns that file."""
    if weights_as_is(cfg):
        return Path(cfg.weights)
    from mglib.train.engine import fit

    cfg = resolved_stream(cfg)
    out = run_dir(cfg.stream, cfg)
    with torch_threads(cfg.threads):
        fit(STREAM_TASKS[cfg.stream](cfg), out, reuse=True)
    return out / "best.safetensors"


def load_stream(cfg, ckpt: Path):
    if cfg.stream == "rgb":
        return stream_rgb.load_encoder(cfg, ckpt)
    from safetensors.torch import load_file

    model = stream_skeleton.build_encoder(cfg)
    model.load_state_dict(load_file(str(ckpt)))
    return model.eval()


def feature_dim(cfg) -> int:
    if cfg.stream == "rgb":
        return stream_rgb.build_encoder(cfg).feature_dim
    return cfg.width + stream_skeleton.NUM_CLASSES + 1


def stream_features(cfg, dataset_id: str, items: dict, decode_fps: float) -> dict[str, np.ndarray]:
    """{name: (T_tok, C) tokens} of every item, extracted once by the frozen stream encoder and cached. ``items``:
    name → SMG sequence (skeleton stream) or video path (RGB stream)."""
    from mglib.train.features import cached_features

    ckpt = stream_checkpoint(cfg)
    model = None

    def extract(name: str) -> np.ndarray:
        nonlocal model
        model = model or load_stream(cfg, ckpt)
        with torch_threads(cfg.threads):
            if cfg.stream == "rgb":
                return stream_rgb.token_features(model, cfg, items[name], decode_fps)
            s = items[name]
            return stream_skeleton.token_features(model, stream_skeleton.normalise(s.skeleton, s.fps, decode_fps))

    params = {"stream": cfg.stream, "decode_fps": decode_fps, "interval": 4}
    if cfg.stream == "rgb":
        params |= {"width": cfg.width, "frame_size": cfg.frame_size, "input": cfg.input, "crop": cfg.crop}
    else:
        params["tokens"] = "features+probabilities"
    return cached_features(ckpt, dataset_id, params, list(items), extract)


def smg_tokens(enc, root: Path, decode_fps: float) -> tuple[list, dict[str, np.ndarray]]:
    """The sequences of an SMG root and their tokens from the stream ``enc``."""
    digest, seqs = read_smg(root)
    items = {s.name: (s.video if enc.stream == "rgb" else s) for s in seqs}
    return seqs, stream_features(enc, f"smg:{paths.relative(root)}:{digest}", items, decode_fps)


# ----------------------------------------------------------------------------------------------- the detector
def dataset_root(cfg: OnlineConfig) -> Path:
    return Path(cfg.data_root) if cfg.data_root else paths.synthetic_dir(cfg.dataset, cfg.profile)


def resolved(cfg: OnlineConfig) -> OnlineConfig:
    """The detector config with the digests of its dataset and of its stream's training data filled in: the key
    of its cached run."""
    return replace(cfg, data_digest=data_digest(dataset_root(cfg)), encoder=resolved_stream(cfg.encoder))


def standardise(seqs: list[Sequence]) -> list[Sequence]:
    """Tokens as z-scores per channel, with the mean and std of the training tokens (fixed constants at test time,
    so still online). The skeleton tokens mix features of the TCN's scale with class probabilities in [0, 1]; on
    the same scale the detector learns from both from the first epochs."""
    train = np.concatenate([s.feats for s in seqs if s.split == "train"])
    mean, std = train.mean(0), train.std(0) + 1e-6
    for s in seqs:
        s.feats = ((s.feats - mean) / std).astype(np.float32)
    return seqs


def load_sequences(cfg: OnlineConfig) -> list[Sequence]:
    """Every sequence of the dataset with its standardised stream tokens and its GT, also in token units."""
    conv = dict(decode_fps=cfg.decode_fps, interval=cfg.interval)
    if cfg.dataset == "smg":
        seqs, feats = smg_tokens(cfg.encoder, dataset_root(cfg), cfg.decode_fps)
        train, val, test = split_subjects(seqs)
        return standardise([make_sequence(s.name, part, s.num_frames, s.fps, feats[s.name], s.labels, **conv)
                            for part, rows in (("train", train), ("val", val), ("test", test)) for s in rows])
    from mglib.data import mma52

    root = dataset_root(cfg)
    splits = mma52.read_root(root)
    videos = {v.video_id: mma52.video_path(root, sp, v.video_id) for sp, vs in splits.items() for v in vs}
    feats = stream_features(cfg.encoder, f"mma52:{paths.relative(root)}:{data_digest(root)}", videos, cfg.decode_fps)
    out = []
    for sp, vs in splits.items():
        for v in vs:
            inst = np.asarray(v.instances, dtype=np.float64).reshape(-1, 3)  # [start, end, class], 0-based frames
            # MMA-52 frames are 0-based instants f / fps; the label-frame convention is 1-based, hence + 1
            gt = np.stack([inst[:, 2], inst[:, 0] + 1, inst[:, 1] + 1], axis=1)
            out.append(make_sequence(v.video_id, sp, v.total_frames, v.fps, feats[v.video_id], gt, **conv))
    return standardise(out)


@torch.no_grad()
def predict(model: PointTAD, loader, seqs: list[Sequence], window: int, decode_fps: float = 10.0,
            interval: int = 4) -> dict[str, list]:
    """{sequence name: [[label, score, start_frame, end_frame], ...]}: every query's detection, frames as floats
    in the sequence's label frames (1-based), before thresholding."""
    per_seq: dict[int, tuple[list, list]] = {}
    device = next(model.parameters()).device
    for x, meta in loader:
        labels, scores, se = detections(model(x.to(device)))
        for b, m in enumerate(meta):
            d = torch.cat([labels[b, :, None].float(), scores[b, :, None], se[b]], dim=1).cpu().numpy()
            starts, dets = per_seq.setdefault(int(m["seq"]), ([], []))
            starts.append(int(m["start"]))
            dets.append(d)
    out = {}
    for i, s in enumerate(seqs):
        starts, dets = per_seq.get(i, ([], []))
        merged = W.merge_detections(starts, window, dets)
        frames = W.tokens_to_frames(merged[:, 2:], s.fps, decode_fps, interval)
        out[s.name] = [[int(r[0]), float(r[1]), float(f[0]), float(f[1])] for r, f in zip(merged, frames)]
    return out


def prediction_rows(dets: list, tau: float, nms_iou: float | None, num_frames: int) -> list[tuple[int, int, int]]:
    """Detections of one sequence → the F1 prediction list [(label0, start, end)] in integer frames."""
    return W.frame_rows(W.select(np.asarray(dets, dtype=np.float64).reshape(-1, 4), tau, nms_iou), num_frames)


def gt_rows(seqs: list[Sequence]) -> dict:
    return {s.name: [tuple(int(v) for v in r) for r in s.gt] for s in seqs}


def f1_at(preds: dict, seqs: list[Sequence], tau: float, nms_iou: float | None, protocol: str = "smg") -> dict:
    from mglib.metrics import online_f1

    pr = {s.name: prediction_rows(preds.get(s.name, []), tau, nms_iou, s.num_frames) for s in seqs}
    return online_f1(gt_rows(seqs), pr, protocol=protocol)


def choose_tau(preds: dict, seqs: list[Sequence], nms_iou: float | None, grid=TAU_GRID) -> tuple[float, dict]:
    """The τ of ``grid`` with the best `smg` F1 on these (validation) sequences; ties → the larger τ."""
    from mglib.metrics import online_f1

    # NMS once, threshold per τ: greedy NMS suppresses a detection only through a higher-scored one, which passes
    # any τ the suppressed one passes, so this equals select(τ) for every τ (and runs every epoch, so it matters)
    ranked = {}
    for s in seqs:
        kept = W.select(preds.get(s.name, []), -np.inf, nms_iou)
        ranked[s.name] = (kept[:, 1], W.frame_rows(kept, s.num_frames))
    gt = gt_rows(seqs)
    best = None
    for tau in grid:
        pr = {name: [row for score, row in zip(scores, rows) if score >= tau]
              for name, (scores, rows) in ranked.items()}
        r = online_f1(gt, pr, protocol="smg")
        if best is None or r["f1"] >= best[1]["f1"]:
            best = (tau, r)
    return best


def trivial_baseline(train: list[Sequence], seqs: list[Sequence]) -> dict[str, list]:
    """A video-blind baseline: tile each sequence with segments of the mean training GT length, all labelled with
    the most frequent training class. Returns {name: [(label0, start, end)]}."""
    gts = np.concatenate([s.gt for s in train])
    label = int(np.bincount(gts[:, 0].astype(int)).argmax())
    length = max(1, int(round(float(np.mean(gts[:, 2] - gts[:, 1])))))
    return {s.name: [(label, a, min(a + length, s.num_frames)) for a in range(1, s.num_frames + 1, length)]
            for s in seqs}


class OnlineTask(Task):
    """PointTAD (+ Mamba-MHSA) on windows of stream tokens. Validation: SMG F1 at the best τ of the validation
    subjects (the curve of chapter 20); MMA-52: detection mAP on its val split."""

    name = "online"
    Config = OnlineConfig

    def __init__(self, cfg: OnlineConfig):
        super().__init__(cfg)
        self._seqs = None

    def sequences(self) -> list[Sequence]:
        if self._seqs is None:
            self._seqs = load_sequences(self.cfg)
        return self._seqs

    def split(self, part: str) -> list[Sequence]:
        return [s for s in self.sequences() if s.split == part]

    def model_config(self) -> PointTADConfig:
        c = self.cfg
        return PointTADConfig(num_classes=SMG_CLASSES if c.dataset == "smg" else 52, in_dim=feature_dim(c.encoder),
                              hidden=c.hidden, num_queries=c.num_queries, num_points=c.num_points,
                              num_layers=c.num_layers, n_heads=c.n_heads, ffn=c.ffn, dropout=c.dropout,
                              mix_dim=c.mix_dim, dense_hidden=c.dense_hidden, query_mixer=c.query_mixer,
                              num_mamba=c.num_mamba, point_init=c.point_init)

    def build_model(self):
        return PointTAD(self.model_config())

    def datasets(self):
        c = self.cfg
        train = TrainWindows(self.split("train"), c.window, c.overlap)
        if len(train) == 0:
            raise InputError(f"window={c.window} tokens: no training window holds a complete ground truth")
        return train, TestWindows(self.split("val"), c.window)

    def collate(self, items):
        return collate(items)

    def loss(self, model, batch):
        x, targets = batch
        return pointtad_loss(model(x), targets, LossConfig(w_dense=self.cfg.w_dense, eos_coef=self.cfg.eos_coef))

    def predict(self, model, part: str) -> dict[str, list]:
        from torch.utils.data import DataLoader

        seqs = self.split(part)
        loader = DataLoader(TestWindows(seqs, self.cfg.window), batch_size=16, collate_fn=collate)
        return predict(model, loader, seqs, self.cfg.window, self.cfg.decode_fps, self.cfg.interval)

    def evaluate(self, model, loader):
        c = self.cfg
        seqs = loader.dataset.seqs
        preds = predict(model, loader, seqs, c.window, c.decode_fps, c.interval)
        if c.dataset == "mma52":
            return mma52_metrics(preds, seqs), None
        tau, r = choose_tau(preds, seqs, c.nms_iou)
        return {"score": r["f1"], "f1": r["f1"], "tau": tau, "precision": r["precision"], "recall": r["recall"]}, None


# ----------------------------------------------------------------------------------------------- cached runs
_SEQ_CACHE: dict = {}


def cached_sequences(cfg: OnlineConfig) -> list[Sequence]:
    """:func:`load_sequences`, memoised per (dataset, root, stream, decoding) for the runs of one process."""
    key = json.dumps([cfg.dataset, cfg.profile, cfg.data_root, cfg.decode_fps, cfg.interval, to_dict(cfg.encoder)])
    if key not in _SEQ_CACHE:
        _SEQ_CACHE[key] = load_sequences(cfg)
    return _SEQ_CACHE[key]


def class_histogram(rows: dict, num_classes: int = SMG_CLASSES) -> list[int]:
    return np.bincount([r[0] for v in rows.values() for r in v], minlength=num_classes).tolist()


def run_online(cfg: OnlineConfig) -> dict:
    """Train one detector on SMG (best epoch by validation F1), choose τ on the validation subjects (never on
    test), score the test subjects. Cached: ``summary.json`` beside the engine's files.

    Returns ``status`` ("ok", or "stopped" with ``error`` when the NaN guard stopped it), ``tau``, ``val`` / ``test``
    / ``test_strict`` (precision, recall, f1, num_pred), ``val_curve`` (validation F1 per epoch), ``train_loss``,
    ``grad_norms`` (per step; None = skipped), ``skipped_steps``, ``best_epoch``, the test ``pred_rows`` at τ and
    the predicted and true class counts on test (``pred_hist``, ``true_hist``).
    """
    from mglib.train.engine import NonFiniteLossError, fit, load_model

    task = OnlineTask(cfg)
    task._seqs = cached_sequences(cfg)
    task.cfg = cfg = resolved(cfg)
    out_dir = run_dir(cfg.query_mixer, cfg)
    summary_path = out_dir / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    with torch_threads(cfg.encoder.threads):
        try:
            fm = fit(task, out_dir, reuse=True)
        except NonFiniteLossError as e:
            return {"status": "stopped", "error": str(e)}
        model = load_model(task, out_dir, "best")
        val, test = task.split("val"), task.split("test")
        tau, val_r = choose_tau(task.predict(model, "val"), val, cfg.nms_iou)
        dets = task.predict(model, "test")
    rows = {s.name: prediction_rows(dets[s.name], tau, cfg.nms_iou, s.num_frames) for s in test}
    hist = fm["history"]
    out = {"status": "ok", "tau": tau, "val": _prf(val_r), "best_epoch": fm["best_epoch"],
           "val_curve": [h["eval"]["f1"] for h in hist], "train_loss": [h["train_loss"] for h in hist],
           "grad_norms": [v for h in hist for v in h["grad_norms"] or []], "skipped_steps": fm["skipped_steps"],
           "pred_rows": rows, "pred_hist": class_histogram(rows), "true_hist": class_histogram(gt_rows(test))}
    for proto, key in (("smg", "test"), ("strict", "test_strict")):
        out[key] = _prf(f1_at(dets, test, tau, cfg.nms_iou, proto))
    records.write_json_atomic(summary_path, out)
    return out


def _prf(r: dict) -> dict:
    return {k: float(r[k]) for k in ("precision", "recall", "f1")} | {"num_pred": int(r["num_pred"])}


def baseline_f1(cfg: OnlineConfig) -> dict:
    """F1 (smg, strict) on the test subjects of :func:`trivial_baseline` fitted on the training subjects."""
    from mglib.metrics import online_f1

    seqs = cached_sequences(cfg)
    test = [s for s in seqs if s.split == "test"]
    pr = trivial_baseline([s for s in seqs if s.split == "train"], test)
    return {"test": _prf(online_f1(gt_rows(test), pr, "smg")), "test_strict": _prf(online_f1(gt_rows(test), pr, "strict"))}


def _seeded(cfg: OnlineConfig, mixer: str, seed: int, **changes) -> OnlineConfig:
    return replace(cfg, query_mixer=mixer, optim=replace(cfg.optim, seed=seed), **changes)


def run_detectors(study: StudyConfig) -> dict:
    """Chapter 20: both decoders × ``study.seeds`` on the study's stream, and the trivial baseline.
    Returns ``{"runs": {mixer: [run per seed]}, "baseline": ..., "seeds": [...]}``."""
    cfg = study.detector
    runs = {m: [run_online(_seeded(cfg, m, s)) for s in study.seeds] for m in MIXERS}
    seqs = cached_sequences(cfg)
    test = [s for s in seqs if s.split == "test"]
    windows = {}
    for part in ("train", "val", "test"):
        ps = [s for s in seqs if s.split == part]
        n = len(TrainWindows(ps, cfg.window, cfg.overlap)) if part == "train" else len(TestWindows(ps, cfg.window))
        windows[part] = {"sequences": len(ps), "tokens": sum(len(s.feats) for s in ps),
                         "gestures": sum(len(s.gt) for s in ps), "windows": n}
    return {"runs": runs, "baseline": baseline_f1(cfg), "seeds": list(study.seeds), "windows": windows,
            "test_gt": gt_rows(test), "num_frames": {s.name: s.num_frames for s in test}}


def write_prediction_files(directory: Path, rows: dict[str, list]) -> list[Path]:
    """``SampleXXXX_prediction.csv`` per sequence (0-based labels here, raw 1-17 in the files): what
    ``python -m mglib eval online`` scores."""
    from mglib.data.smg import write_predictions

    return [write_predictions(directory, name, r) for name, r in rows.items()]


def write_ground_truth(directory: Path, rows: dict[str, list]) -> None:
    """``SampleXXXX/SampleXXXX_finelabels.csv`` of the given sequences (e.g. only the test subjects)."""
    from mglib.data.smg import write_labels

    for name, r in rows.items():
        (Path(directory) / name).mkdir(parents=True, exist_ok=True)
        write_labels(Path(directory) / name / f"{name}_finelabels.csv", np.asarray(r, dtype=np.int64).reshape(-1, 3))


def window_latency(study: StudyConfig, repeats: int = 20) -> dict:
    """Milliseconds to process one window on this CPU (one thread): the stream (preprocessing and encoder on the
    window's raw frames, with the encoder's history) and each detector. Median over ``repeats``; not recorded in
    the run's metrics, because it depends on the machine."""
    import time

    cfg = study.detector
    enc = cfg.encoder
    frames = cfg.window * cfg.interval  # decoded frames
    rng = np.random.default_rng(0)

    def median_ms(fn) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return 1000 * float(np.median(times))

    with torch.no_grad(), torch_threads(1):
        model = load_stream(enc, stream_checkpoint(enc))
        if enc.stream == "skeleton":
            rows = rng.normal(size=(int((frames + enc.context) * 3), 25, 3)).astype(np.float32)  # 30-fps Kinect rows

            def stream():
                stream_skeleton.token_features(model, stream_skeleton.normalise(rows, 30.0, cfg.decode_fps))
        else:
            clip = rng.integers(0, 255, size=(frames, enc.frame_size, enc.frame_size, 3), dtype=np.uint8)

            def stream():
                stream_rgb.extract_snippet_features(model, clip)
        out = {f"{enc.stream} stream": median_ms(stream)}
        x = torch.from_numpy(rng.normal(size=(1, cfg.window, feature_dim(enc))).astype(np.float32))
        for mixer, name in MIXERS.items():
            task = OnlineTask(_seeded(cfg, mixer, 0))
            det = task.build_model().eval()
            out[f"{name} decoder"] = median_ms(lambda: det(x))
    return {"ms": out, "window": cfg.window, "repeats": repeats}


def run_ablations(study: StudyConfig) -> dict:
    """Chapter 21: Table 2 on the Mamba-MHSA model, one setting varied at a time, ``study.seeds`` each.
    Returns ``{"rows": [{field, value, seed, **run}], "baseline": ..., "default": {field: value}}``."""
    cfg = study.detector
    rows = [{"field": f, "value": v, "seed": s, **run_online(_seeded(cfg, "mamba_mhsa", s, **{f: v}))}
            for f, values in study.ablations.items() for v in values for s in study.seeds]
    return {"rows": rows, "baseline": baseline_f1(cfg), "default": {f: getattr(cfg, f) for f in study.ablations}}


def sweep_detector(study: StudyConfig, knob: str, value: float) -> OnlineConfig:
    """The detector of ``study`` on the synthetic SMG with one generator knob changed (the default level reads the
    chapters' own data). Every level reads its tokens through chapter 04's skeleton stream, pretrained once on the
    default data and frozen, as the paper's I3D is: a level changes the data, not the feature extractor."""
    from mglib.data.synthetic import DEFAULT_KNOBS

    root = "" if value == getattr(DEFAULT_KNOBS["smg"], knob) else str(ensure_sweep_data(study.profile, knob, value))
    return replace(study.detector, data_root=root, encoder=stream_config("skeleton", study.profile))


def run_sweeps(study: StudyConfig) -> dict:
    """Chapter 22: for each swept knob and level, both decoders × ``study.seeds``, and the trivial baseline of that
    level. Returns ``{"rows": [{knob, value, mixer, seed, **run}], "baselines": {(knob, value): f1}}``."""
    rows, baselines = [], {}
    for knob, levels in study.sweeps.items():
        for value in levels:
            cfg = sweep_detector(study, knob, value)
            baselines[f"{knob}={value:g}"] = baseline_f1(cfg)["test"]["f1"]
            for mixer in MIXERS:
                for s in study.seeds:
                    r = run_online(_seeded(cfg, mixer, s))
                    rows.append({"knob": knob, "value": value, "mixer": mixer, "seed": s, **r})
    return {"rows": rows, "baselines": baselines}


# ----------------------------------------------------------------------------------------------- chapter 04
def run_streams(study: StudyConfig) -> dict:
    """Chapter 04: pretrain every compared stream (or reuse it) and measure it on the test subjects: clip accuracy
    beside chance and the majority-class rate, gesture vs background beside its majority, a 1-NN probe of the
    frozen tokens, the validation curve. Cached per stream as ``stream_summary.json``."""
    return {name: stream_summary(cfg) for name, cfg in study.streams.items()}


def stream_summary(cfg) -> dict:
    """One stream's measurements on the test subjects (see :func:`run_streams`); cached beside its checkpoint."""
    from torch.utils.data import DataLoader

    ckpt = stream_checkpoint(cfg)
    path = ckpt.parent / "stream_summary.json"
    if ckpt.suffix == ".safetensors" and path.exists():
        return json.loads(path.read_text())
    root = smg_root(cfg.data_root, cfg.profile)
    _, seqs = read_smg(root)
    train, _, test = split_subjects(seqs)
    model = load_stream(cfg, ckpt)
    out = {"stream": cfg.stream, "causal": cfg.stream == "skeleton" or (cfg.input == "rgb" and not cfg.crop),
           "params": sum(p.numel() for p in model.parameters()), "feature_dim": feature_dim(cfg),
           "chance": 1.0 / SMG_CLASSES}
    y_train = np.concatenate([s.labels[:, 0] for s in train])
    y_test = np.concatenate([s.labels[:, 0] for s in test])
    out["majority"] = float((y_test == np.bincount(y_train).argmax()).mean())
    if ckpt.suffix == ".safetensors":  # a classifier trained here (a local I3D file has no SMG head)
        task = STREAM_TASKS[cfg.stream](cfg)
        with torch.no_grad(), torch_threads(cfg.threads):
            t, _ = task.evaluate(model, DataLoader(task.clip_sets(test, False), 32, collate_fn=task.collate))
        out |= {"test_clip_acc": float(t["clip_acc"]), "num_test_clips": int(t["num_clips"])}
        if "actionness_acc" in t:
            out |= {"test_actionness_acc": float(t["actionness_acc"]),
                    "test_actionness_majority": float(t["actionness_majority"])}
        m = json.loads((ckpt.parent / "metrics.json").read_text())
        out |= {"best_epoch": int(m["best_epoch"]), "val_curve": [h["eval"]["clip_acc"] for h in m["history"]]}
    _, feats = smg_tokens(cfg, root, cfg.decode_fps)
    xtr, ytr = segment_embeddings(feats, train, cfg.decode_fps)
    xte, yte = segment_embeddings(feats, test, cfg.decode_fps)
    out |= {"nn_acc": nearest_neighbour_accuracy(xtr, ytr, xte, yte), "num_test_gestures": int(len(yte))}
    if ckpt.suffix == ".safetensors":
        records.write_json_atomic(path, out)
    return out


def segment_embeddings(feats: dict[str, np.ndarray], seqs, decode_fps: float = 10.0, interval: int = 4):
    """Mean token inside each GT gesture → (N, C) embeddings, (N,) labels."""
    X, y = [], []
    for s in seqs:
        f = feats[s.name]
        for lab, a, b in np.asarray(s.labels).reshape(-1, 3):
            lo, hi = W.frames_to_tokens([a, b], s.fps, decode_fps, interval)
            lo, hi = int(np.floor(lo)), int(np.ceil(hi))
            X.append(f[max(0, min(lo, len(f) - 1)):max(lo + 1, min(hi, len(f)))].mean(axis=0))
            y.append(int(lab))
    return np.asarray(X, np.float32), np.asarray(y, np.int64)


def nearest_neighbour_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                               test_y: np.ndarray) -> float:
    """1-NN (cosine) accuracy of ``test`` against the ``train`` gallery: what the frozen features separate without
    any training on top."""
    def unit(x):
        x = x - train_x.mean(axis=0)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)

    nn_idx = (unit(test_x) @ unit(train_x).T).argmax(axis=1)
    return float((train_y[nn_idx] == test_y).mean()) if len(test_y) else 0.0


# ----------------------------------------------------------------------------------------------- MMA-52
def mma52_metrics(preds: dict, seqs: list[Sequence]) -> dict:
    """Detection mAP (PointTAD evaluator, tIoU 0.1…0.9) at action and body level; ``score`` = action level."""
    from mglib.metrics import POINTTAD_TIOU, detection_map

    gt, res = activitynet_dicts(preds, seqs)
    out = {}
    for level in ("action", "body"):
        r = detection_map(gt, res, tiou=POINTTAD_TIOU, protocol="pointtad", level=level, num_classes=52)
        out |= {f"{level}/mAP@{t:.1f}": float(m) for t, m in zip(r["tiou"], r["mAP"])}
        out[f"{level}/average_mAP"] = float(r["average_mAP"])
    return {"score": out["action/average_mAP"], **out}


def activitynet_dicts(preds: dict, seqs: list[Sequence]) -> tuple[dict, dict]:
    """MMA-52 ground truth and detections in the ActivityNet layout, seconds. The GT and predicted positions are
    1-based label frames here (0-based frame f is the instant f / fps), hence the − 1."""
    gt = {"database": {s.name: {"subset": s.split, "duration": s.num_frames / s.fps, "annotations": [
        {"segment": [(float(r[1]) - 1) / s.fps, (float(r[2]) - 1) / s.fps], "label": int(r[0])} for r in s.gt]}
        for s in seqs}}
    res = {"results": {s.name: [{"segment": [(d[2] - 1) / s.fps, (d[3] - 1) / s.fps], "label": int(d[0]),
                                 "score": float(d[1])} for d in preds.get(s.name, [])] for s in seqs}}
    return gt, res


def run_mma52(study: StudyConfig) -> dict:
    """Chapter 20: the official MMA-52 PointTAD baseline (MAC-2024 settings, scaled on CPU) trained on the train
    split for a fixed number of epochs and scored at the last epoch on the **val** split, the split chapter 30
    scores (no epoch is chosen on it). Returns the per-level mAPs, the number of val videos and the config."""
    from mglib.train.engine import fit

    task = OnlineTask(study.mma52)
    task._seqs = cached_sequences(study.mma52)
    task.cfg = cfg = resolved(study.mma52)
    with torch_threads(cfg.encoder.threads):
        fm = fit(task, run_dir("mma52", cfg), reuse=True)
    return {"metrics": {k: v for k, v in fm.items() if "/" in k}, "num_val_videos": len(task.split("val")),
            "config": to_dict(cfg)}
