"""Study 2's config(params): every profile of every chapter resolves; bad names, list items, dict keys and values
are refused in one line naming the parameter."""
import pytest

from mglib import profiles
from mglib.errors import InputError
from mglib.studies.online.config import INTERVAL, STREAMS, config

CHAPTERS = ("04_video_encoder", "20_online", "21_online_ablations", "22_online_sweeps")


@pytest.mark.parametrize("notebook", CHAPTERS)
@pytest.mark.parametrize("profile", ("smoke", "cpu", "gpu"))
def test_every_profile_resolves(notebook, profile):
    cfg = config(profiles.resolve(notebook, profile))
    assert cfg.profile == profile and cfg.stream in STREAMS
    if notebook != "04_video_encoder":
        assert cfg.detector.window * INTERVAL == profiles.resolve(notebook, profile)["window"]  # β in frames
        assert cfg.detector.dense_hidden == cfg.detector.hidden // 2  # PointTAD: 512 -> 256 -> C on gpu


def test_gpu_is_the_paper_setting():
    cfg = config(profiles.resolve("20_online", "gpu"))
    d = cfg.detector
    assert (cfg.stream, d.num_queries, d.num_points, d.num_layers, d.num_mamba, d.hidden, d.window) == (
        "rgb", 48, 30, 4, 2, 512, 32)
    assert (d.optim.lr, d.optim.batch_size, d.optim.epochs, d.optim.milestones[:2]) == (1e-4, 1, 50, (10, 20))
    assert cfg.streams["rgb"].weights.endswith("weights") or cfg.streams["rgb"].weights.endswith(".pt")
    m = cfg.mma52  # the official MAC-2024 settings
    assert (m.optim.lr, m.optim.weight_decay, m.optim.batch_size, m.num_queries, m.num_points, m.num_layers,
            m.window, m.interval, m.decode_fps, m.query_mixer) == (2e-4, 1e-2, 8, 24, 30, 2, 48, 4, 25.0, "mhsa")
    for nb in CHAPTERS[:3]:
        p = profiles.resolve(nb, "gpu")
        assert p["data_root"] and p["encoder_weights"]


def _params(**kw):
    p = profiles.resolve("21_online_ablations", "smoke")
    p.update(kw)
    return p


@pytest.mark.parametrize("change,message", [
    ({"bogus": 1}, "parameter 'bogus'"),
    ({"window": 130}, "parameter 'window'"),
    ({"n_heads": 3}, "parameter 'n_heads'"),
    ({"lr": 0.0}, "parameter 'lr'"),
    ({"point_init": "random"}, "parameter 'point_init'"),
    ({"stream": "depth"}, "parameter 'stream'"),
    ({"seeds": [0, 0]}, "parameter 'seeds'"),
    ({"points_values": [8, "x"]}, "parameter 'points_values': item 1"),
    ({"window_values": [128, 30]}, "parameter 'window_values': item 1"),
    ({"mamba_values": [-1]}, "parameter 'mamba_values': item 0"),
])
def test_bad_values_are_refused_in_one_line(change, message):
    with pytest.raises(InputError, match=message) as e:
        config(_params(**change))
    assert "\n" not in str(e.value)


def test_bad_mma52_keys_and_values_are_refused():
    p = profiles.resolve("20_online", "smoke")
    with pytest.raises(InputError, match="parameter 'mma52': unknown key 'queries'"):
        config({**p, "mma52": {**p["mma52"], "queries": 3}})
    with pytest.raises(InputError, match="parameter 'mma52': key 'batch_size'"):
        config({**p, "mma52": {**p["mma52"], "batch_size": 0.5}})
    with pytest.raises(InputError, match="missing key"):
        config({**p, "mma52": {"lr": 0.1}})
    assert config({**p, "run_mma52": False}).mma52 is None


def test_sweep_parameters():
    p = profiles.resolve("22_online_sweeps", "cpu")
    cfg = config(p)
    assert set(cfg.sweeps) == {"duration", "gap"} and 1.0 in cfg.sweeps["gap"]
    with pytest.raises(InputError, match="parameter 'difficulty'"):
        config({**p, "difficulty": "imbalance"})
    with pytest.raises(InputError, match="parameter 'gap_values': item 0"):
        config({**p, "gap_values": [0.0]})


def test_decoder_defaults_agree_with_the_model_family():
    from dataclasses import fields

    from mglib.models.pointtad import PointTADConfig
    from mglib.studies.online.config import OnlineConfig

    model = {f.name: f.default for f in fields(PointTADConfig)}
    shared = {f.name: f.default for f in fields(OnlineConfig) if f.name in model}
    assert len(shared) >= 12 and shared == {k: model[k] for k in shared}
