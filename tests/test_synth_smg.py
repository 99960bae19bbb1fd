"""The synthetic SMG against the real statistics of ``mglib.data.calibration`` (class shares, durations, density),
its knobs, and the skeleton-only option."""
import numpy as np
import pytest

from mglib.data import calibration, smg, synth_smg, synthetic

REAL = calibration.SMG


def _pooled(n_seq=200, seconds=600, **knobs):
    """Classes, durations and gaps (frames) pooled over ``n_seq`` generated schedules."""
    k = synthetic.resolve_knobs("smg", **knobs)
    rng = np.random.default_rng(0)
    cls, dur, gap = [], [], []
    for _ in range(n_seq):
        ev = synth_smg.schedule(seconds * 30, 30, rng, k, max_gap_s=30.0)
        cls += [c for c, _, _ in ev]
        dur += [b - a + 1 for _, a, b in ev]
        gap += [ev[i + 1][1] - ev[i][2] for i in range(len(ev) - 1)]
    return np.array(cls), np.array(dur), np.array(gap)


@pytest.fixture(scope="module")
def pooled():
    return _pooled()


def test_class_shares_follow_the_real_ones(pooled):
    cls = pooled[0]
    real = calibration.class_shares(REAL)  # raw 1-based labels
    assert np.isin(cls, [4, 8]).mean() == pytest.approx(0.64, abs=0.02)  # raw labels 5 and 9
    share = np.bincount(cls, minlength=17) / len(cls)
    for c in range(17):
        assert share[c] == pytest.approx(real[c + 1], abs=0.01), c


def test_durations_follow_the_real_distribution(pooled):
    dur = pooled[1]
    real = REAL["duration_frames"]
    # tolerance 12 %: the per-class medians are real, the within-class spread is one fitted log-normal
    for q, key in ((10, "p10"), (50, "median"), (90, "p90")):
        assert np.percentile(dur, q) == pytest.approx(real[key], rel=0.12), key
    assert dur.mean() == pytest.approx(real["mean"], rel=0.12)


def test_density_gestures_come_back_to_back(pooled):
    gap = pooled[2]
    real = REAL["gap_frames"]
    assert gap.min() >= 1  # no overlaps (the real data has 40 overlapping pairs in 3,054)
    assert np.median(gap) == pytest.approx(real["median"], rel=0.1)  # about one second
    assert np.percentile(gap, 90) == pytest.approx(real["p90"], rel=0.12)  # the long pauses
    assert np.percentile(gap, 10) <= 3  # real: 1 frame


def test_knobs_move_the_statistics():
    cls, dur, gap = _pooled(n_seq=60)
    _, dur_short, gap_dense = _pooled(n_seq=60, duration=0.5, gap=0.25)
    assert np.median(dur_short) == pytest.approx(np.median(dur) / 2, rel=0.15)
    assert np.median(gap_dense) == pytest.approx(np.median(gap) / 4, rel=0.2)
    balanced = _pooled(n_seq=60, imbalance=0.0)[0]
    assert np.bincount(balanced, minlength=17).min() / len(balanced) > 0.03  # no class near-empty any more
    assert np.isin(cls, [4, 8]).mean() > 3 * np.isin(balanced, [4, 8]).mean()


def test_skeleton_only_generation_reads_back(tmp_path):
    prof = synth_smg.PROFILES["smoke"]
    info = synth_smg.generate(prof, tmp_path, 0, synthetic.resolve_knobs("smg"), video=False)
    seqs = smg.read_root(tmp_path)
    assert info["video"] is False and len(seqs) == len(prof.train_subjects + prof.val_subjects + prof.test_subjects)
    for s in seqs:
        assert not s.video.exists() and s.skeleton.shape == (s.num_frames, 25, 11)
        assert len(s.labels) >= 3 and (s.labels[1:, 1] > s.labels[:-1, 2]).all()  # ordered, never overlapping
