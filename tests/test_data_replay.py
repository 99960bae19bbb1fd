"""Synthetic MMA-52 replaying real timelines: rows equal to their source rows, the sample's rules, the fallback, and
a body model that animates overlapping events on one body part."""
import dataclasses
import json

import numpy as np
import pytest

from mglib import paths
from mglib.data import body, fetch, fetch_real, gestures, mma52, synth_mma52, synthetic
from mglib.data import ensure as ensure_data
from mglib.data.video import probe_video
from mglib.errors import InputError
from tests.real_data import fetched_mma52, require_mirror


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return fetched_mma52(tmp_path_factory)


@pytest.fixture(scope="module")
def replayed(real, tmp_path_factory):
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synth_mma52, "REAL_ROOT", real)
        for seed in (0, 1):
            out[seed] = tmp_path_factory.mktemp(f"replay{seed}")
            synthetic.generate("mma52", "smoke", out[seed], seed=seed)
    return out


def _rows_by_video(path) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in path.read_text().splitlines()[1:]:
        rows.setdefault(line.split(",")[1], []).append(line)
    return rows


def test_replayed_rows_equal_their_source_rows(real, replayed):
    root = replayed[0]
    assert json.loads((root / "meta.json").read_text())["timelines"] == "real"
    source = {s: _rows_by_video(real / "anns" / f"{s}.csv") for s in ("train", "val")}
    ids = {}
    for split, src in (("train", "train"), ("val", "val"), ("test", "val")):
        path = root / "anns" / f"{split}.csv"
        assert path.read_text().splitlines()[0] == ",".join(mma52.HEADER)
        rows = _rows_by_video(path)
        assert len(rows) == synth_mma52.PROFILES["smoke"].videos[mma52.SPLITS.index(split)]
        for vid, lines in rows.items():
            assert lines == source[src][vid]  # byte-equal rows, id and video_id included, in the real order
        ids[split] = set(rows)
    assert not ids["val"] & ids["test"]  # test replays real val videos that val did not take
    for split, videos in mma52.read_root(root).items():
        for v in videos:
            assert probe_video(mma52.video_path(root, split, v.video_id))[:2] == (v.total_frames, v.fps)


def test_same_seed_same_sample_and_another_seed_another(real, replayed, tmp_path, monkeypatch):
    monkeypatch.setattr(synth_mma52, "REAL_ROOT", real)
    synthetic.generate("mma52", "smoke", tmp_path, seed=0)
    for split in mma52.SPLITS:
        name = f"anns/{split}.csv"
        assert (tmp_path / name).read_bytes() == (replayed[0] / name).read_bytes()
    assert (replayed[1] / "anns/train.csv").read_bytes() != (replayed[0] / "anns/train.csv").read_bytes()


def test_timeline_knobs_are_refused_while_replaying(real, tmp_path, monkeypatch):
    monkeypatch.setattr(synth_mma52, "REAL_ROOT", real)
    with pytest.raises(InputError, match="knob.s. cooccurrence shape parametric timelines"):
        synthetic.generate("mma52", "smoke", tmp_path, seed=0, cooccurrence=0.9)


def test_sample_rules_at_every_profile(real):
    rows = synth_mma52.real_rows(real)
    for name, prof in synth_mma52.PROFILES.items():
        s = synth_mma52.replay_sample(rows, prof, seed=3)
        assert [len(s[k]) for k in mma52.SPLITS] == list(prof.videos), name
        ids = {k: [v.video_id for v in s[k]] for k in s}
        assert all(i.startswith("train") for i in ids["train"]) and len(set(ids["train"])) == len(ids["train"])
        assert all(i.startswith("val") for i in ids["val"] + ids["test"]) and not set(ids["val"]) & set(ids["test"])
        assert ids["train"] == sorted(ids["train"])  # real-file order
    big = dataclasses.replace(synth_mma52.PROFILES["cpu"], videos=(10, 1000, 500))
    with pytest.raises(InputError, match="the real annotations hold 4534 train and 1475 val videos"):
        synth_mma52.replay_sample(rows, big, seed=0)


def test_unverified_real_files_fall_back_to_parametric(real, tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    (bad / "anns").mkdir(parents=True)
    for f in ("train", "val", "test"):
        (bad / "anns" / f"{f}.csv").write_bytes((real / "anns" / f"{f}.csv").read_bytes())
    with open(bad / "anns" / "val.csv", "ab") as f:
        f.write(b"0")  # one byte more: no longer the registered file
    monkeypatch.setattr(synth_mma52, "REAL_ROOT", bad)
    assert synth_mma52.real_root() is None and synth_mma52.timeline_source() == "parametric"
    info = synthetic.generate("mma52", "smoke", tmp_path / "out", seed=0)
    assert info["timelines"] == "parametric"
    assert mma52.read_root(tmp_path / "out")["train"][0].video_id == "train0000"


def test_fetch_real_without_mirror_or_network_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paths, "DATA", tmp_path / "data")
    monkeypatch.delenv(fetch.MIRROR_ENV, raising=False)
    fs = fetch.REGISTRY["mma52-annotations"]
    offline = tuple(dataclasses.replace(rf, url=(tmp_path / "offline" / rf.path).as_uri()) for rf in fs.files)
    monkeypatch.setitem(fetch.REGISTRY, "mma52-annotations", dataclasses.replace(fs, files=offline))
    assert fetch_real() is False
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("[mglib] synthetic MMA-52 falls back to parametric timelines")
    assert not (tmp_path / "data").exists()
    monkeypatch.setenv(fetch.MIRROR_ENV, str(require_mirror()))
    assert fetch_real() is True and fetch.verified_dir("mma52-annotations") == tmp_path / "data" / "real" / "mma52"


def test_ensure_fetches_then_replays_and_regenerates_when_the_timelines_change(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "DATA", tmp_path / "data")
    monkeypatch.setattr(paths, "DATASETS", ("mma52",))
    monkeypatch.setenv(fetch.MIRROR_ENV, str(require_mirror()))
    ensure_data("smoke")
    marker = paths.synthetic_dir("mma52", "smoke") / ".complete"
    assert json.loads(marker.read_text())["timelines"].startswith("real:")
    (tmp_path / "data" / "real" / "mma52" / "anns" / "train.csv").unlink()
    monkeypatch.delenv(fetch.MIRROR_ENV)
    monkeypatch.setitem(fetch.REGISTRY, "mma52-annotations", dataclasses.replace(
        fetch.REGISTRY["mma52-annotations"], files=tuple(dataclasses.replace(rf, url=(tmp_path / "x").as_uri())
                                                         for rf in fetch.REGISTRY["mma52-annotations"].files)))
    ensure_data("smoke")
    assert json.loads(marker.read_text())["timelines"] == "parametric"


# ---------------------------------------------------------------------------------------------- body model
def _animate(events, n=90):
    subj = body.Subject(1, tremor=0.0, sway=0.0)
    J, _ = body.animate(subj, n, 30, events, np.random.default_rng(0))
    return J


def _ev(code, start, end, side=body.RIGHT):
    return body.Event(gestures.MA52[code], start, end, side=side)


def test_overlapping_events_on_one_part_are_mixed_within_one_events_range():
    turn = _ev(8, 10, 80)  # turning head
    one, two = _animate([turn]), _animate([turn, dataclasses.replace(turn)])
    for k in ("nose", "head", "hand0"):
        np.testing.assert_allclose(two[k], one[k], atol=1e-12)  # two copies of one motion: that motion, not double
    neck, eyes = _ev(32, 5, 70), _ev(42, 30, 85)  # two contact actions of the right hand
    ab, ba = _animate([neck, eyes]), _animate([eyes, neck])
    for k in ab:
        np.testing.assert_allclose(ab[k], ba[k], atol=1e-12)  # listing order does not matter
    assert all(np.isfinite(v).all() for v in ab.values())


def test_events_that_do_not_overlap_animate_as_alone():
    first, later = _ev(32, 5, 40), _ev(42, 60, 85)
    alone, both = _animate([first]), _animate([first, later])
    for k in alone:
        np.testing.assert_array_equal(both[k][:60], alone[k][:60])


def test_the_busiest_real_timelines_animate(real):
    subj = body.make_subject(1, np.random.default_rng(0))
    videos = mma52.read_csv(real / "anns" / "val.csv", "val")
    busiest = sorted(videos, key=lambda v: -len(v.instances))[:20]
    for v in busiest:
        events = [_ev(int(c), int(s), max(int(s), int(e) - 1)) for s, e, c in v.instances]
        J, _ = body.animate(subj, v.total_frames, v.fps, events, np.random.default_rng(0))
        assert all(np.isfinite(x).all() for x in J.values())
