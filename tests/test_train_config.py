"""--set overrides: nested keys, YAML-like values, type checks, and refusal before any work."""
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest
from pathlib import Path

from mglib.errors import InputError
from mglib.train.config import OptimConfig, apply_overrides, to_dict
from mglib.train.toy import ToyConfig


@dataclass
class _Cfg:
    optim: OptimConfig = field(default_factory=OptimConfig)
    depth: int = 2
    ratio: float = 0.5
    name: str = "a"
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[int, float] = (1, 0.5)
    tags: list[str] = field(default_factory=list)
    maybe: Optional[int] = None
    mode: Literal["fast", "slow"] = "fast"
    flag: bool = False


def test_nested_and_typed_values():
    cfg = apply_overrides(_Cfg(), ["optim.lr=1e-3", "depth=4", "ratio=2", "name=yes", "sizes=[3, 4, 5]",
                                   "pair=2,0.25", "tags=a,b", "maybe=7", "mode=slow", "flag=true",
                                   "optim.milestones=[5,8]", "optim.optimizer=sgd"])
    assert cfg.optim.lr == 1e-3 and isinstance(cfg.optim.lr, float)
    assert (cfg.depth, cfg.ratio, cfg.name, cfg.sizes, cfg.pair) == (4, 2.0, "yes", (3, 4, 5), (2, 0.25))
    assert (cfg.tags, cfg.maybe, cfg.mode, cfg.flag) == (["a", "b"], 7, "slow", True)
    assert cfg.optim.milestones == (5, 8) and cfg.optim.optimizer == "sgd"
    assert apply_overrides(cfg, ["maybe=none", "sizes=[]"]).maybe is None


def test_original_config_untouched():
    base = _Cfg()
    apply_overrides(base, ["optim.lr=0.5", "depth=9"])
    assert base.optim.lr == 1e-3 and base.depth == 2


@pytest.mark.parametrize("item, named", [
    ("optim.lrr=0.1", "optim.lrr"), ("deep=3", "deep"), ("nope.lr=1", "nope"), ("depth=1.5", "depth"),
    ("depth=abc", "depth"), ("flag=maybe", "flag"), ("mode=medium", "mode"), ("optim.optimizer=adam", "optimizer"),
    ("optim.schedule=linear", "schedule"), ("pair=1", "pair"), ("sizes=[1, x]", "sizes"), ("optim=3", "optim"),
    ("optim.epochs=0", "epochs"), ("depth", "depth"),
])
def test_refused_with_the_key_named(item, named):
    with pytest.raises(InputError, match=named):
        apply_overrides(_Cfg(), [item])


def test_to_dict_is_json_plain():
    d = to_dict(apply_overrides(ToyConfig(), ["optim.milestones=[2]"]))
    assert d["optim"]["milestones"] == [2] and d["optim"]["lr"] == 0.01


@pytest.mark.parametrize("item, named", [("optim.lrr=0.1", "optim.lrr"), ("hidden=big", "hidden")])
def test_cli_refuses_before_any_work(tmp_path, item, named):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    p = subprocess.run([sys.executable, "-m", "mglib", "train", "toy", "--set", item, "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0]
    assert not out.exists()


def test_cli_study_task_missing_is_an_input_error():
    from mglib.train import commands

    try:
        commands.task_class("detection")
    except InputError as e:
        assert "not available in this checkout" in str(e)
