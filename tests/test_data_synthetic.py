"""Synthetic generator: real formats (read back by the readers), determinism per seed, knobs, body model."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mglib.data import body, commands, gestures, imigue, mma52, smg, synth_mma52, synthetic
from mglib.data.video import probe_video
from mglib.errors import InputError


def _digest(root: Path, patterns) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for pat in patterns for p in sorted(root.glob(pat))}


ANN_FILES = {"smg": ["*/*.csv"], "imigue": ["imigue.pkl", "raw/*/*.csv"], "mma52": ["anns/*.csv"]}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = {}
    for ds in ("smg", "imigue", "mma52"):
        for seed in (0, 1):
            root = tmp_path_factory.mktemp(f"{ds}{seed}")
            synthetic.generate(ds, "smoke", root, seed=seed)
            out[ds, seed] = root
    return out


@pytest.mark.parametrize("ds", ["smg", "imigue", "mma52"])
def test_deterministic_per_seed_and_different_across_seeds(generated, tmp_path, ds):
    synthetic.generate(ds, "smoke", tmp_path, seed=0)
    a, b = _digest(generated[ds, 0], ANN_FILES[ds]), _digest(tmp_path, ANN_FILES[ds])
    assert a and a == b  # byte-identical annotation files
    c = _digest(generated[ds, 1], ANN_FILES[ds])
    assert a != c


def test_smg_synthetic_reads_back(generated):
    root = generated["smg", 0]
    seqs = smg.read_root(root)
    assert {smg.split_of(s.subject) for s in seqs} == {"train", "test"}
    meta = json.loads((root / "meta.json").read_text())
    assert set(meta["subjects"]["test"]) == {s.subject for s in seqs if s.subject >= 36}
    for s in seqs:
        assert s.skeleton.shape == (s.num_frames, 25, 11) and s.fps == 30
        assert len(s.labels) > 0 and s.labels[:, 2].max() <= s.num_frames and (s.labels[:, 1] >= 1).all()
        assert (np.diff(s.labels[:, 1]) > 0).all()  # sparse, sequential gestures
        n, fps, h, w = probe_video(s.video)
        assert (n, fps, h, w) == (s.num_frames, 30.0, 64, 64)
        z = s.skeleton[:, :, 2]
        assert 1.5 < z.mean() < 4.0  # Kinect depth in metres


def test_imigue_synthetic_reads_back(generated):
    root = generated["imigue", 0]
    anns, split = imigue.load_pyskl(root / "imigue.pkl")
    assert set(split) == {"train", "val", "test"}
    meta = json.loads((root / "meta.json").read_text())
    vs = meta["video_subject"]
    subj = {name: {vs[f.split("_")[0]] for f in ids} for name, ids in split.items()}
    assert not (subj["train"] & subj["test"]) and not (subj["train"] & subj["val"])  # subject-independent
    assert len({a["label"] for a in anns if a["frame_dir"] in split["train"]}) == 32
    a = anns[0]
    assert a["keypoint"].shape == (1, a["total_frames"], 22, 2)
    n, fps, h, w = probe_video(imigue.clip_video_path(root, a["frame_dir"]))
    assert (n, fps) == (a["total_frames"], 25.0)
    raw = imigue.read_raw_video(root / "raw" / a["frame_dir"].split("_")[0])
    np.testing.assert_array_equal(imigue.clip_annotation(raw, 0)["keypoint"], a["keypoint"])


def test_mma52_synthetic_reads_back(generated):
    root = generated["mma52", 0]
    data = mma52.read_root(root)
    assert set(data) == {"train", "val", "test"}
    fps_text = (root / "anns" / "train.csv").read_text().splitlines()[1].rsplit(",", 1)[1]
    assert fps_text in ("30.0", "29.0")
    fewest = 1 if json.loads((root / "meta.json").read_text())["timelines"] == "real" else 2  # real: 1-10 per video
    for split, vids in data.items():
        for v in vids:
            assert fewest <= len(v.instances) <= 10 and v.fps in (29.0, 30.0)
            assert probe_video(mma52.video_path(root, split, v.video_id))[:2] == (v.total_frames, v.fps)


def test_inspect_keys(generated):
    for ds in ("smg", "imigue", "mma52"):
        path = generated[ds, 0] / ("imigue.pkl" if ds == "imigue" else "")
        out = commands.summarize(ds, path)
        assert list(out) == ["dataset", "num_videos", "num_instances", "num_classes", "splits", "class_counts"]
        assert sum(out["class_counts"].values()) == out["num_instances"]
        assert sum(s["instances"] for s in out["splits"].values()) == out["num_instances"]
        assert out["num_classes"] == len(out["class_counts"])


def test_knobs_validated_and_applied(tmp_path):
    with pytest.raises(InputError, match="unknown generator knob"):
        synthetic.generate("mma52", "smoke", tmp_path, seed=0, loudness=3)
    k = synthetic.resolve_knobs("mma52", amplitude=0.5)
    assert k.amplitude == 0.5 and k.imbalance == synthetic.DEFAULT_KNOBS["mma52"].imbalance
    w = synthetic.class_weights(52, 1.0, synth_mma52._MMA_HEAD, synth_mma52._MMA_TAIL)
    assert w[8] == w.max() and w[45] == w.min() and w.max() / w.min() == pytest.approx(52)
    assert np.allclose(synthetic.class_weights(52, 0.0, [], []), 1 / 52)


def _hand_at(prim, frames=60, side=body.RIGHT):
    rng = np.random.default_rng(0)
    subj = body.Subject(1, tremor=0.0, sway=0.0)
    ev = body.Event(prim, 0, frames - 1, side=side)
    J, props = body.animate(subj, frames, 30, [ev], rng)
    return J, props


def test_contact_primitives_reach_their_site_and_pairs_are_close():
    mid = 30
    pos = {}
    for c in (32, 35, 40, 42, 43, 47, 9):
        J, _ = _hand_at(gestures.MA52[c])
        pos[c] = J["hand0"][mid]
    J0, _ = _hand_at(gestures.MA52[9])  # nodding: hands stay in the lap
    assert np.linalg.norm(pos[32] - J0["neck"][mid]) < 0.12
    assert np.linalg.norm(pos[42] - J0["eye0"][mid]) < 0.1
    d_amb = np.linalg.norm(pos[42] - pos[40])  # eyes vs forehead
    d_far = np.linalg.norm(pos[42] - pos[9])  # eyes vs rest in the lap
    assert 0.01 < d_amb < 0.1 < 0.4 < d_far
    assert np.linalg.norm(pos[47] - pos[43]) < 0.06  # pushing glasses vs touching nose


def test_rgb_only_cue_leaves_skeleton_unchanged():
    a, pa = _hand_at(gestures.MA52[12])  # playing objects
    b, pb = _hand_at(gestures.MA52[13])  # putting hands together: same motion, no prop
    for k in ("hand0", "hand1", "elbow0", "head"):
        np.testing.assert_allclose(a[k], b[k])
    assert pa["object"].max() > 0.9 and pb["object"].max() == 0


def test_every_table_entry_animates():
    rng = np.random.default_rng(0)
    subj = body.make_subject(3, rng)
    for table in gestures.TABLES.values():
        evs = [body.Event(p, 2, 40, side=i % 2) for i, p in enumerate(table)]
        for ev in evs:
            J, _ = body.animate(subj, 45, 30, [ev], rng)
            assert all(np.isfinite(v).all() for v in J.values())


def test_calibration_tables_match_their_stated_totals():
    from mglib.data import calibration

    assert sum(n for n, _ in calibration.IMIGUE["classes"].values()) == calibration.IMIGUE["segments"]
    assert sum(n for n, _ in calibration.SMG["classes"].values()) == calibration.SMG["gestures"]
    shares = calibration.class_shares(calibration.IMIGUE)
    assert abs(shares[99] - 0.309) < 0.001  # the non-micro-gesture class
    smg = calibration.class_shares(calibration.SMG)
    assert abs(smg[5] + smg[9] - 0.64) < 0.01  # the two dominant SMG classes
