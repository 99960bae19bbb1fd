"""The detection study's data: the person-box crop, frame spreading, instance clips, the time grid, the trivial
detector and the study config's refusals."""
import numpy as np
import pytest

from mglib.errors import InputError
from mglib.studies import detection as S
from mglib.studies.detection import data as D


def scene(T=6, H=64, W=48, box=(14, 10, 30, 50), seed=0):
    """A noisy grey background with a coloured 'person' rectangle (x0, y0, x1, y1) that moves a little."""
    rng = np.random.default_rng(seed)
    f = (120 + rng.normal(0, 2, (T, H, W, 3))).clip(0, 255).astype(np.uint8)
    x0, y0, x1, y1 = box
    for t in range(T):
        f[t, y0:y1, x0 + t % 2:x1 - 1 + t % 2] = (200, 40, 60)
    return f


def test_person_box_finds_the_person():
    x0, y0, x1, y1 = D.person_box(scene())
    assert abs(x0 - 14) <= 2 and abs(y0 - 10) <= 2 and abs(x1 - 30) <= 2 and abs(y1 - 50) <= 2


def test_person_box_of_an_empty_scene_is_the_whole_frame():
    f = scene()
    f[:] = 120
    assert D.person_box(f) == (0, 0, 48, 64)


def test_crop_resize_fills_the_square_with_the_person():
    f = scene()
    out = D.crop_resize(f, D.person_box(f), 16, margin=0.0)
    assert out.shape == (6, 16, 16, 3) and out.dtype == np.uint8
    red = (out[..., 0] > 160) & (out[..., 1] < 100)
    assert red.mean() > 0.6  # the whole frame would be (16·40)/(48·64) ≈ 21 % person
    whole = D.crop_resize(f, (0, 0, 48, 64), 16, margin=0.0)
    assert ((whole[..., 0] > 160) & (whole[..., 1] < 100)).mean() < 0.35


def test_crop_margin_is_clipped_to_the_frame():
    f = scene()
    assert D.crop_resize(f, (0, 0, 48, 64), 8, margin=0.5).shape == (6, 8, 8, 3)


def test_spread_is_uniform_and_clipped():
    assert D.spread(0, 10, 5, 10).tolist() == [1, 3, 5, 7, 9]
    assert D.spread(8, 12, 4, 10).tolist() == [8, 9, 9, 9]


def test_instance_clips_and_time_grid():
    clips = np.zeros((2, 4, 8, 8, 3), np.uint8)
    v = D.Video("v", "train", 10.0, 30.0, np.array([[1.0, 3.5, 7], [2.0, 4.0, 20]]), np.zeros((8, 8, 8, 3), np.uint8),
                clips)
    c, y = D.instance_clips([v])
    assert c.shape == (2, 4, 8, 8, 3) and y.tolist() == [7, 20]
    g = D.seconds_to_grid(v.instances[:, :2], v.duration, 16)
    np.testing.assert_allclose(D.grid_to_seconds(g, v.duration, 16), v.instances[:, :2])


def test_prior_baseline_never_looks_at_frames():
    rng = np.random.default_rng(0)
    vids = [D.Video(f"v{i}", "val", 12.0, 30.0, np.array([[1.0, 3.0, i % 3], [4.0, 5.0, 9]]),
                    rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8), np.zeros((2, 2, 8, 8, 3), np.uint8))
            for i in range(4)]
    a = D.prior_baseline(vids, vids)
    for v in vids:
        v.frames[:] = 0
    assert D.prior_baseline(vids, vids) == a
    scores = {r["label"]: r["score"] for rows in a["results"].values() for r in rows}
    assert abs(sum(scores.values()) - 1.0) < 1e-9


@pytest.mark.parametrize("params, message", [
    ({"settings": ["tia", "adaptformer"]}, "parameter 'settings[1]'"),
    ({"seeds": [0, 0]}, "parameter 'seeds'"),
    ({"img_size": 30, "patch_size": 8}, "parameter 'img_size'"),
    ({"window_frames": 40}, "parameter 'window_frames'"),
    ({"amplitude": -1.0}, "parameter 'amplitude'"),
    ({"settings": ["tia"], "setting": "dsta"}, "parameter 'setting'"),
    ({"sweep_amplitudes": [1.0], "settings": ["tia"], "setting": "tia"}, "parameter 'settings'"),
])
def test_config_refuses_bad_parameters_in_one_line(params, message):
    with pytest.raises(InputError) as e:
        S.config(params)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_config_maps_parameters_once():
    cfg = S.config({"vit_dim": 32, "head_dim": 24, "window_frames": 64, "clip_frames": 16, "activation_checkpointing":
                    True, "sweep_amplitudes": [], "seeds": [3, 4]})
    d = cfg.detection
    assert d.head.in_dim == 32 and d.head.embd_dim == d.head.head_dim == 24 and d.head.max_seq_len == 32
    assert d.vit.checkpoint and cfg.seeds == (3, 4) and cfg.sweep_amplitudes == ()


def test_limb_colours_paint_each_limb_in_its_code_colour():
    from mglib.data import body, gestures
    from mglib.data.render import render
    from mglib.data.synthetic import make_camera, make_event, resolve_knobs

    rng = np.random.default_rng(0)
    subj = body.make_subject(10_000, np.random.default_rng(1))
    J, props = body.animate(subj, 8, 30.0, [make_event(gestures.MA52[0], 1, 6, subj, rng, resolve_knobs("mma52"))], rng)
    cam = make_camera("mma52", np.random.default_rng(2), 64)

    def right_arm_pixels(limb_colours):  # the right upper and lower arm's code colour
        f = render(J, props, subj, cam, np.arange(8), np.random.default_rng(3), limb_colours=limb_colours)
        return int(np.all(np.abs(f.astype(int) - (230, 40, 40)) < 15, -1).sum())

    coded = right_arm_pixels(True)
    assert coded > 8 * 10 and right_arm_pixels(False) < coded / 4
