"""The gpu entries of chapters 04, 20 and 21 name the real SMG and the local I3D weights; where either is missing
the chapter stops with one line naming the missing path, instead of running on synthetic data without a word."""
import pytest

from mglib import profiles
from mglib.data.synthetic import generate
from mglib.errors import InputError
from mglib.studies import online as S

RUNS = {"04_video_encoder": S.run_streams, "20_online": S.run_detectors, "21_online_ablations": S.run_ablations}


@pytest.fixture(scope="module")
def smg_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("smg")
    generate("smg", "smoke", root)
    return root


def gpu_config(notebook: str, **changes):
    p = profiles.resolve(notebook, "gpu")
    assert p["data_root"] and p["encoder_weights"], f"{notebook}: the gpu entry must name the data and the weights"
    p.update(changes)
    if notebook == "20_online":
        p["run_mma52"] = False  # the MMA-52 baseline reads its own data root
    return S.config(p)


def one_line(err: pytest.ExceptionInfo, path) -> None:
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("notebook", list(RUNS))
def test_missing_real_smg_is_refused_in_one_line(notebook, tmp_path):
    missing = tmp_path / "smg"
    with pytest.raises(InputError, match="no SMG label files") as err:
        RUNS[notebook](gpu_config(notebook, data_root=str(missing)))
    one_line(err, missing)


@pytest.mark.parametrize("notebook", ["04_video_encoder", "20_online"])
def test_missing_i3d_weights_are_refused_in_one_line(notebook, smg_root, tmp_path):
    weights = tmp_path / "i3d_rgb_kinetics400.pt"
    with pytest.raises(InputError, match="not found") as err:
        RUNS[notebook](gpu_config(notebook, data_root=str(smg_root), encoder_weights=str(weights)))
    one_line(err, weights)
