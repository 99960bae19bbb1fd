"""The datasets chapter's statistics: MMA-52 instances and overlaps, co-occurrence, and real-vs-synthetic tables."""
import numpy as np
import pytest

from mglib.data import calibration, mma52, smg, summary, synthetic
from tests.real_data import fetched_mma52


def _mma_root(tmp_path):
    """Two videos at 30 fps: v0 with three instances (the first two overlap, the third starts where the second ends),
    v1 with one."""
    videos = [mma52.MMAVideo("v0", "train", 30.0, 300, np.array([[0, 60, 9], [30, 90, 8], [90, 120, 21]], float)),
              mma52.MMAVideo("v1", "train", 30.0, 150, np.array([[0, 150, 2]], float))]
    mma52.write_csv(tmp_path / "anns" / "train.csv", videos)
    return tmp_path


def test_mma_instances_flags_overlaps_and_counts_cooccurrence(tmp_path):
    inst = summary.mma_instances(_mma_root(tmp_path))
    assert list(inst.overlaps) == [True, True, False, False]
    assert inst.seconds.tolist() == [2.0, 2.0, 1.0, 5.0] and inst.video_s.tolist() == [10.0, 10.0, 10.0, 5.0]
    pairs = summary.overlap_pairs(inst)
    assert pairs[["i", "j"]].values.tolist() == [[0, 1]]
    co = summary.cooccurrence(inst, "body")
    assert co.loc["head", "head"] == 1 and co.values.sum() == 1  # nodding with turning head: one pair, one level


def test_segment_statistics_count_frames_inclusively():
    per = [np.array([[4, 10, 19], [8, 20, 29], [4, 25, 40]]), np.array([[0, 0, 9]])]
    rows, gap, classes = summary._segment_rows(per, 30.0, "frames", calibration.SMG, (
        "gestures_per_sequence", "duration_frames", "gap_frames"), ("sequence", "gesture", "gestures"))
    assert gap.tolist() == [1, -4]  # back to back, then overlapping
    stats = {name: synth for name, _, synth in rows}
    assert stats["gestures per sequence, mean"] == 2.0 and stats["duration (frames), median"] == 10.0
    assert classes.tolist() == [4, 8, 4, 0]


@pytest.fixture(scope="module")
def smoke_roots(tmp_path_factory):
    roots = {}
    for ds in ("smg", "imigue"):
        roots[ds] = tmp_path_factory.mktemp(ds)
        synthetic.generate(ds, "smoke", roots[ds], seed=0)
    return roots


def test_real_vs_synthetic_tables(smoke_roots, tmp_path_factory):
    smg_t = summary.smg_vs_real(smoke_roots["smg"])
    cells = {r[0]: r[1:] for r in smg_t.rows}
    assert cells["gestures"][0] == "3,089" and cells["two largest classes (label), share"][0] == "5 + 9: 64.2 %"
    train = [f for f in smg.sequence_folders(smoke_roots["smg"]) if smg.split_of(smg.subject_of(f)) == "train"]
    assert cells["training sequences"][1] == str(len(train))
    im = {r[0]: r[1:] for r in summary.imigue_vs_real(smoke_roots["imigue"]).rows}
    assert im["non-micro-gesture class (raw 99), share"][0] == "30.9 %"
    real = fetched_mma52(tmp_path_factory)
    mm = {r[0]: r[1:] for r in summary.mma_vs_real(real, real).rows}
    assert mm["instances"] == ["13,698", "13,698"] and mm["instances overlapping another of their video"][0] == "86.4 %"
    assert "not in data/real/mma52" in repr(summary.mma_vs_real(None, real))
