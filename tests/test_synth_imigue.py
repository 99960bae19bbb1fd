"""The synthetic iMiGUE: calibration to the real label table and the two sweep knobs."""
from dataclasses import replace

import numpy as np
import pytest

from mglib.data import body, calibration, gestures, imigue, synth_imigue, synthetic
from mglib.errors import InputError
from mglib.taxonomy import IMIGUE_NON_MG

SHARE_TOLERANCE = 0.03  # absolute, on the non-micro-gesture share (real 0.309)
TV_TOLERANCE = 0.05  # total variation distance between the synthetic and the real class shares
QUANTILE_TOLERANCE = 0.10  # relative, on the duration p10 / median / p90


def _labels(profile: str, **knobs) -> np.ndarray:
    videos, _ = synth_imigue.plan(synth_imigue.PROFILES[profile], 0, synthetic.resolve_knobs("imigue", **knobs))
    return np.concatenate([c for vids in videos.values() for _, _, c in vids])


def test_class_shares_follow_the_real_label_table():
    real = synth_imigue.real_shares()
    assert real[IMIGUE_NON_MG] == pytest.approx(calibration.IMIGUE["classes"][99][0] / calibration.IMIGUE["segments"])
    for profile in ("cpu", "gpu"):
        y = _labels(profile)
        shares = np.bincount(y, minlength=32) / len(y)
        assert abs(shares[IMIGUE_NON_MG] - 0.309) < SHARE_TOLERANCE
        assert 0.5 * np.abs(shares - real).sum() < TV_TOLERANCE
        assert set(y) == set(range(32))  # every class, however rare, in every profile
    balanced = np.bincount(_labels("cpu", imbalance=0.0), minlength=32)
    assert balanced.max() - balanced.min() <= 3


def test_every_split_holds_every_class():
    videos, _ = synth_imigue.plan(synth_imigue.PROFILES["cpu"], 0, synthetic.resolve_knobs("imigue"))
    for split, vids in videos.items():
        assert set(np.concatenate([c for _, _, c in vids])) == set(range(32)), split


def test_durations_follow_the_real_distribution():
    prof = synth_imigue.PROFILES["gpu"]
    knobs = synthetic.resolve_knobs("imigue")
    rng = np.random.default_rng(0)
    classes = rng.choice(32, size=20000, p=synth_imigue.real_shares())
    seconds = np.array([synth_imigue.duration_frames(c, rng, knobs, prof) for c in classes]) / prof.fps
    real = calibration.IMIGUE["duration_s"]
    for q, key in ((10, "p10"), (50, "median"), (90, "p90")):
        assert np.percentile(seconds, q) == pytest.approx(real[key], rel=QUANTILE_TOLERANCE), key
    slow = synthetic.resolve_knobs("imigue", duration=2.0)  # the knob still scales them
    rng2 = np.random.default_rng(0)
    longer = [synth_imigue.duration_frames(c, rng2, slow, prof) for c in classes[:2000]]
    assert np.median(longer) / prof.fps == pytest.approx(2 * real["median"], rel=QUANTILE_TOLERANCE)


def _animate(prim, shift=(0.0, 0.0, 0.0), frames=40):
    subj = body.Subject(1, tremor=0.0, sway=0.0)
    ev = body.Event(prim, 0, frames - 1, side=body.RIGHT, jitter=shift)
    return body.animate(subj, frames, 25, [ev], np.random.default_rng(0))


def test_rgb_cue_share_makes_twins_that_only_rgb_tells_apart():
    classes = synth_imigue.SWEEP_CLASSES
    for share, n in ((0.0, 0), (2 / 12, 2), (4 / 12, 4)):
        table, pairs = gestures.imigue_table(share, classes)
        assert len(pairs) == n
        for twin, source in pairs:  # same skeleton as the source, plus a prop
            (a, pa), (b, pb) = _animate(table[twin]), _animate(table[source])
            for joint in ("hand0", "hand1", "elbow0", "head"):
                np.testing.assert_allclose(a[joint], b[joint])
            assert max(pa["object"].max(), pa["hat"].max()) > 0.9 and pb["object"].max() == pb["hat"].max() == 0
        if n == 0:  # no twins: the candidates move in their own way and wear nothing
            for twin, source, _ in gestures.IMIGUE_TWIN_CANDIDATES[:4]:
                a, pa = _animate(table[twin])
                assert np.abs(a["hand0"] - _animate(table[source])[0]["hand0"]).max() > 0.02
                assert pa["object"].max() == pa["hat"].max() == 0
    assert gestures.imigue_table(None, range(32))[1] == gestures.RGB_CUE_PAIRS["imigue"]  # the default design
    assert synth_imigue.max_rgb_cue_share() == pytest.approx(4 / 12)
    with pytest.raises(InputError, match="rgb_cue_share=0.5"):
        gestures.imigue_table(0.5, classes)


@pytest.mark.parametrize("pair", gestures.AMBIGUOUS_PAIRS["imigue"])
def test_pair_distance_scales_the_contact_sites(pair):
    a, b = pair
    mid = 20
    hand_a = _animate(gestures.IMIGUE[a])[0]["hand0"][mid]
    dist = {}
    for d in (0.0, 0.5, 1.0, 2.0):
        hand_b = _animate(gestures.IMIGUE[b], gestures.imigue_pair_offset(b, d))[0]["hand0"][mid]
        dist[d] = np.linalg.norm(hand_b - hand_a)
    assert dist[0.0] < 0.3 * dist[1.0]  # the hand reaches (nearly) the same place: only the arm's pose differs
    assert dist[0.5] < dist[1.0] < dist[2.0] and dist[2.0] == pytest.approx(2 * dist[1.0], rel=0.35)
    assert gestures.imigue_pair_offset(a, 0.5) == (0.0, 0.0, 0.0)  # the first class of a pair stays put


def test_knobs_are_checked():
    with pytest.raises(InputError, match="iMiGUE only"):
        synthetic.resolve_knobs("smg", pair_distance=0.5)
    for knobs, field in (({"rgb_cue_share": 1.5}, "rgb_cue_share"), ({"pair_distance": -1.0}, "pair_distance"),
                         ({"imbalance": -1.0}, "imbalance")):
        with pytest.raises(InputError, match=field):
            synth_imigue.check_knobs(replace(synthetic.resolve_knobs("imigue"), **knobs))


def test_sweep_profile_generates_and_reads_back(tmp_path, monkeypatch):
    monkeypatch.setenv("MGLIB_DATA_WORKERS", "1")
    meta = synthetic.generate("imigue", "sweep_smoke", tmp_path, seed=0, imbalance=0.0, rgb_cue_share=2 / 12)
    assert meta["classes"] == list(synth_imigue.SWEEP_CLASSES)
    assert meta["rgb_cue_pairs"] == [[25, 22], [2, 3]] and meta["ambiguous_pairs"] == [[6, 4], [11, 14]]
    anns, split = imigue.load_pyskl(tmp_path / "imigue.pkl")
    assert {a["label"] for a in anns} <= set(synth_imigue.SWEEP_CLASSES) and set(split) == {"train", "val", "test"}
