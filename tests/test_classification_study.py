"""The classification task end to end on a tiny in-memory iMiGUE stand-in (8 clips, 16 frames)."""
import numpy as np
import pytest
import torch

# the study needs the datasets, training-engine and metrics packages (other branches until they land on main)
for _mod in ("mglib.data.imigue", "mglib.train.engine", "mglib.metrics"):
    pytest.importorskip(_mod)

from mglib import paths  # noqa: E402
from mglib.data.imigue import save_pyskl  # noqa: E402
from mglib.data.video import write_video  # noqa: E402
from mglib.studies.classification import (ClassificationConfig, ClassificationTask, IMiGUEClips,  # noqa: E402
                                          late_fusion, load_predictions)
from mglib.train.config import OptimConfig  # noqa: E402
from mglib.train.engine import fit, load_model  # noqa: E402

BODY = np.array([(0.5, 0.25), (0.5, 0.45), (0.3, 0.45), (0.22, 0.7), (0.35, 0.85), (0.7, 0.45), (0.78, 0.7),
                 (0.65, 0.85), (0.46, 0.21), (0.54, 0.21), (0.42, 0.23), (0.58, 0.23)]
                + [(0.65, 0.9)] * 5 + [(0.35, 0.9)] * 5, np.float32)


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
    save_pyskl(root / "imigue.pkl", anns, {"train": [a["frame_dir"] for a in anns],
                                           "val": [a["frame_dir"] for a in anns[:4]]})
    return root


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # an oversubscribed 2-thread pool on a shared CPU is many times slower
    yield
    torch.set_num_threads(threads)


def cfg(root, method, **kw):
    return ClassificationConfig(optim=OptimConfig(epochs=1, batch_size=4, lr=1e-3, progress=False), data_root=str(root),
                                method=method, pose_frames=16, rgb_frames=4, stgcn_frames=8, heatmap_size=16,
                                rgb_size=32, cmf_heads=2, prm_dim=8, **kw)


def test_items_have_the_method_inputs(root):
    task = ClassificationTask(cfg(root, "rgbpose", test_clips=2))
    train, val = task.datasets()
    item = train[0]
    assert item["pose"].shape == (1, 22, 16, 16, 16) and item["rgb"].shape == (1, 3, 4, 32, 32)
    assert val[1]["pose"].shape == (2, 22, 16, 16, 16)
    limb = ClassificationTask(cfg(root, "poseconv3d_limb")).datasets()[0][0]["pose"]
    assert limb.shape[1] == len(task.load()[4])  # one channel per edge
    kp = ClassificationTask(cfg(root, "stgcn")).datasets()[0][0]["kp"]
    assert kp.shape == (1, 1, 8, 22, 3) and kp[..., :2].abs().max() <= 1


def test_flip_swaps_left_and_right_channels(root):
    c = cfg(root, "poseconv3d_joint", flip_prob=1.0)
    task = ClassificationTask(c)
    train, _ = task.datasets()
    flipped = train[0]["pose"][0]
    plain = IMiGUEClips(train.anns, cfg(root, "poseconv3d_joint", flip_prob=0.0), True, None, train.limbs,
                        train.flip, seed=c.optim.seed)[0]["pose"][0]
    # same frames (same seed; the flip coin is drawn first in both): HandLeft(4) <-> HandRight(7), mirrored in W
    assert torch.allclose(flipped[4], plain[7].flip(-1))


@pytest.mark.parametrize("method", ["stgcn", "poseconv3d_limb", "rgbpose_cmf_prm"])  # joint, rgb3d: below
def test_fit_runs_and_stores_predictions(root, tmp_path, method):
    torch.manual_seed(0)
    out = tmp_path / method
    m = fit(ClassificationTask(cfg(root, method)), out)
    assert 0 <= m["top1"] <= 1 and m["top5"] >= m["top1"] and m["chance"] == pytest.approx(1 / 32)
    pred = load_predictions(out)
    assert pred["probs"][0].shape == (4, 32) and len(pred["probs"]) == (2 if method.startswith("rgbpose") else 1)
    if method.endswith("prm"):
        assert "top1_rgb" in m and "top1_pose" in m


def test_two_stream_initialised_from_single_streams(root, tmp_path):
    fit(ClassificationTask(cfg(root, "rgb3d")), tmp_path / "rgb")
    fit(ClassificationTask(cfg(root, "poseconv3d_joint")), tmp_path / "pose")
    task = ClassificationTask(cfg(root, "rgbpose_cmf", init_rgb=str(tmp_path / "rgb"),
                                  init_pose=str(tmp_path / "pose")))
    model = task.build_model()
    pose = load_model(ClassificationTask(cfg(root, "poseconv3d_joint")), tmp_path / "pose").net
    assert torch.equal(model.net.pose.stem[0].weight, pose.backbone.stem[0].weight)
    assert torch.equal(model.net.pose_head.fc.weight, pose.head.fc.weight)


def test_late_fusion_weights():
    a, b = np.array([[0.8, 0.2]]), np.array([[0.2, 0.8]])
    assert np.allclose(late_fusion([a, b], (1, 1)), [[0.5, 0.5]])
    assert np.allclose(late_fusion([a, b], (2, 1)), [[0.6, 0.4]])


def test_bad_configs_are_input_errors():
    from mglib.errors import InputError

    with pytest.raises(InputError, match="method"):
        ClassificationTask(ClassificationConfig(method="nope"))
    with pytest.raises(InputError, match="pose_frames"):
        ClassificationTask(ClassificationConfig(method="rgbpose", pose_frames=16, rgb_frames=8))
