"""The classification task end to end on a tiny in-memory iMiGUE stand-in (8 clips, 16 frames)."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from mglib import paths
from mglib.data.imigue import save_pyskl
from mglib.data.video import write_video
from mglib.errors import InputError
from mglib.studies import classification as S
from mglib.studies.classification.config import RunConfig
from mglib.studies.classification import data as D
from mglib.studies.classification.data import IMiGUEClips, video_box
from mglib.studies.classification.task import (ClassificationTask, fit_run, late_fusion, load_run_config, run_dir,
                                               evaluate_test)
from mglib.train.config import OptimConfig
from mglib.train.engine import fit, load_model

BODY = np.array([(0.5, 0.25), (0.5, 0.45), (0.3, 0.45), (0.22, 0.7), (0.35, 0.85), (0.7, 0.45), (0.78, 0.7),
                 (0.65, 0.85), (0.46, 0.21), (0.54, 0.21), (0.42, 0.23), (0.58, 0.23)]
                + [(0.65, 0.9)] * 5 + [(0.35, 0.9)] * 5, np.float32)
CONFIG = {"size": "tiny", "pose_frames": 16, "rgb_frames": 4, "stgcn_frames": 8, "heatmap_size": 16, "rgb_size": 32,
          "prm_dim": 8, "cmf_heads": 2, "optim.epochs": 1, "optim.batch_size": 4, "optim.lr": 0.001}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("imigue")
    rng = np.random.default_rng(0)
    anns = []
    for i in range(8):
        label = i % 4
        t = 16
        kp = BODY[None, None] * 200 + np.array([220, 100], np.float32)
        kp = np.repeat(kp, t, axis=1) + rng.normal(0, 2, (1, t, 22, 2)).astype(np.float32)
        kp[0, :, 4, 1] -= label * 10 * np.linspace(0, 1, t)  # class = how far the left hand rises
        anns.append({"frame_dir": f"{i:04d}_0", "label": label, "img_shape": (360, 640),
                     "original_shape": (360, 640), "total_frames": t, "keypoint": kp,
                     "keypoint_score": np.full((1, t, 22), 0.9, np.float32)})
        frames = np.full((t, 90, 160, 3), 40 * label, np.uint8)
        write_video(root / "rgb" / f"{i:04d}_0.mp4", frames, fps=25)
    names = [a["frame_dir"] for a in anns]
    save_pyskl(root / "imigue.pkl", anns, {"train": names, "val": names[:4], "test": names[4:]})
    return root


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # an oversubscribed 2-thread pool on a shared CPU is many times slower
    yield
    torch.set_num_threads(threads)


def cfg(root, method, **kw):
    return RunConfig(optim=OptimConfig(epochs=1, batch_size=4, lr=1e-3), data_root=str(root), method=method,
                     size="tiny", pose_frames=16, rgb_frames=4, stgcn_frames=8, heatmap_size=16, rgb_size=32,
                     cmf_heads=2, prm_dim=8, **kw)


def test_items_have_the_method_inputs(root):
    task = ClassificationTask(cfg(root, "rgbpose", test_clips=2))
    train, val = task.datasets()
    item = train[0]
    assert item["pose"].shape == (1, 22, 16, 16, 16) and item["rgb"].shape == (1, 3, 4, 32, 32)
    assert val[1]["pose"].shape == (2, 22, 16, 16, 16)
    kp = ClassificationTask(cfg(root, "stgcn")).datasets()[0][0]["kp"]
    assert kp.shape == (1, 1, 8, 22, 3) and kp[..., :2].abs().max() <= 1
    assert len(task.dataset("test")) == 4


def test_flip_swaps_left_and_right_channels(root):
    c = cfg(root, "poseconv3d", flip_prob=1.0)
    train, _ = ClassificationTask(c).datasets()
    flipped = train[0]["pose"][0]
    plain = IMiGUEClips(train.anns, cfg(root, "poseconv3d", flip_prob=0.0), True, None, train.flip,
                        seed=c.optim.seed)[0]["pose"][0]
    # same frames (same seed; the flip coin is drawn first in both): HandLeft(4) <-> HandRight(7), mirrored in W
    assert torch.allclose(flipped[4], plain[7].flip(-1))


def test_cached_clip_volumes_give_the_same_items(root, monkeypatch):
    # the whole-clip heatmaps, drawn once, must give the samples that drawing each sample's frames gives
    monkeypatch.setattr(D, "_VOLUMES", {})
    monkeypatch.setattr(D, "_volume_bytes", 0)
    c = dataclasses.replace(cfg(root, "poseconv3d", flip_prob=0.5), pose_frames=4)
    cached, direct = (ClassificationTask(c).datasets()[0] for _ in range(2))
    direct.cache = False
    assert cached.cache
    for _ in range(3):  # epochs: new frames and flips each time, from the same seed in both
        for i in range(len(cached)):
            assert torch.equal(cached[i]["pose"], direct[i]["pose"])
    assert len(D._VOLUMES) == len(cached) and D._volume_bytes == sum(v.nbytes for v in D._VOLUMES.values())
    one = next(iter(D._VOLUMES.values())).nbytes
    monkeypatch.setattr(D, "VOLUME_CACHE_BYTES", 3 * one)  # room for three clips: the oldest go first
    D._VOLUMES.clear()
    monkeypatch.setattr(D, "_volume_bytes", 0)
    for i in range(len(cached)):
        cached[i]
    assert D._volume_bytes <= 3 * one and len(D._VOLUMES) == 3
    assert not ClassificationTask(c).datasets()[0].cache  # a split that would not fit is drawn sample by sample


def test_video_box_shares_the_image_centre():
    # a 64x64 synthetic clip is the centre of a 1280x1280 view whose middle 1280x720 is the keypoints' frame
    assert video_box((0, 0, 1280, 720), (720, 1280), (64, 64)) == (0, 14, 64, 50)
    assert video_box((100, 50, 300, 250), (360, 640), (90, 160)) == (25, 12, 75, 62)  # same aspect: plain scale


@pytest.mark.parametrize("method", ["stgcn", "poseconv3d_prm", "rgbpose_cmf_prm"])
def test_fit_runs_and_scores_the_test_split_once(root, method):
    torch.manual_seed(0)
    m = fit_run(cfg(root, method))
    assert 0 <= m["top1"] <= 1 and m["top5"] >= m["top1"] and m["chance"] == pytest.approx(1 / 32)
    test = evaluate_test(m["run_dir"])
    assert len(test["label"]) == 4 and np.asarray(test["probs"][0]).shape == (4, 32)
    assert len(test["probs"]) == (2 if method.startswith("rgbpose") else 1)
    assert test["metrics"] == m["test"]
    stamp = (m["run_dir"] / "test.json").stat().st_mtime_ns
    assert fit_run(cfg(root, method))["test"] == m["test"]  # reused, not retrained or rescored
    assert (m["run_dir"] / "test.json").stat().st_mtime_ns == stamp
    if method == "rgbpose_cmf_prm":
        assert "top1_rgb" in m and "top1_pose" in m
        assert load_run_config(m["run_dir"]) == cfg(root, method)


def test_two_stream_initialised_from_single_streams(root, tmp_path):
    fit(ClassificationTask(cfg(root, "rgb3d")), tmp_path / "rgb")
    fit(ClassificationTask(cfg(root, "poseconv3d")), tmp_path / "pose")
    task = ClassificationTask(cfg(root, "rgbpose_cmf", init_rgb=str(tmp_path / "rgb"),
                                  init_pose=str(tmp_path / "pose")))
    model = task.build_model()
    pose = load_model(ClassificationTask(cfg(root, "poseconv3d")), tmp_path / "pose").net
    assert torch.equal(model.net.pose.stem[0].weight, pose.backbone.stem[0].weight)
    assert torch.equal(model.net.pose_head.fc.weight, pose.head.fc.weight)


def test_study_runs_are_cached_and_two_stream_rows_use_their_single_streams(root, monkeypatch):
    from mglib.models import tv_video

    monkeypatch.setattr(tv_video, "available", lambda: (False, "torchvision is not importable"))
    study = S.config({"profile": "smoke", "seeds": [0], "data_root": str(root), "config": CONFIG,
                      "fusion_epochs": 1})
    runs = S.run(study, methods=("rgb3d", "poseconv3d", "rgbpose_cmf", "swin3d_t"))
    assert list(runs["method"]) == ["rgb3d", "poseconv3d", "rgbpose_cmf"]  # no torchvision row here
    two = load_run_config(runs.loc[runs["method"] == "rgbpose_cmf", "run_dir"].iloc[0])
    assert two.init_rgb == runs.loc[runs["method"] == "rgb3d", "run_dir"].iloc[0]
    stamp = {p: p.stat().st_mtime_ns for p in (paths.CACHE / "classification").glob("*/metrics.json")}
    again = S.run(study, methods=("rgb3d", "poseconv3d", "rgbpose_cmf"))
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp  # nothing retrained
    assert again["test_top1"].tolist() == runs["test_top1"].tolist()
    base = S.majority_baseline(study)
    assert base == {"val": 0.25, "test": 0.25}  # four classes in equal shares


def test_run_folder_follows_the_config(root):
    a = cfg(root, "rgbpose_cmf_prm")
    assert run_dir(a) == run_dir(cfg(root, "rgbpose_cmf_prm"))
    assert run_dir(a) != run_dir(cfg(root, "rgbpose_cmf_prm", alpha=0.5))
    assert run_dir(a).name.startswith("rgbpose_cmf_prm_s0_")


def test_late_fusion_weights():
    a, b = np.array([[0.8, 0.2]]), np.array([[0.2, 0.8]])
    assert np.allclose(late_fusion([a, b], (1, 1)), [[0.5, 0.5]])
    assert np.allclose(late_fusion([a, b], (2, 1)), [[0.6, 0.4]])


def test_bad_run_configs_are_input_errors():
    with pytest.raises(InputError, match="pose_frames"):
        ClassificationTask(RunConfig(method="rgbpose", pose_frames=16, rgb_frames=8))
    with pytest.raises(InputError, match="rgb_size"):
        ClassificationTask(RunConfig(method="rgbpose_cmf", size="small", heatmap_size=32, rgb_size=32))


def test_missing_split_names_the_file(root):
    with pytest.raises(InputError, match="imigue.pkl.*no split 'holdout'"):
        ClassificationTask(cfg(root, "poseconv3d", test_split="holdout")).load()


def test_config_json_round_trip(root):
    out = fit_run(cfg(root, "poseconv3d"))["run_dir"]
    stored = json.loads((out / "config.json").read_text())["config"]
    assert stored["cmf_tokens"] == "channel"  # the paper's CMF is the default


def test_run_folder_follows_the_data(root, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(root, other)
    a = cfg(other, "poseconv3d")
    before = run_dir(a)
    anns_path = other / "imigue.pkl"
    anns_path.write_bytes(anns_path.read_bytes() + b"\0")  # other contents under the same path
    assert run_dir(a) != before
