"""Fuzz suite, ``train``: bad values, bad run folders, corrupt checkpoints and records -- and no lost runs.

Every refusal must come before the run folder is touched; an earlier run in ``--out`` must survive any failure of
a new one, byte for byte. The toy task keeps each case well under a second.
"""
import os
import pickle
import shutil

import pytest
import torch

from mglib.cli import main
from mglib.train import engine
from tests.fuzzkit import accepted, refused

SMALL = ["n_train=16", "n_val=8", "hidden=8", "optim.epochs=2", "optim.batch_size=8"]
RUN_FILES = ("config.json", "env.json", "metrics.json", "predictions.json", "checkpoint.pt", "best.safetensors")


def train(out, *sets, flags=()):
    return ["train", "toy", *[a for s in (*SMALL, *sets) for a in ("--set", s)], "--out", str(out), *flags]


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(train(out)) == 0
    return out


@pytest.fixture
def run(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


# ---------------------------------------------------------------------------------------------- values
@pytest.mark.parametrize("item,needle", [
    ("optim.lr=-1", "expected a value >= 0"), ("optim.lr=nan", "expected a finite number"),
    ("optim.lr=inf", "expected a finite number"), ("optim.lr=-inf", "expected a finite number"),
    ("optim.momentum=inf", "finite"), ("optim.momentum=nan", "finite"), ("optim.momentum=-0.1", ">= 0"),
    ("optim.momentum=1.5", "<= 1"), ("optim.warmup_epochs=nan", "finite"), ("optim.warmup_epochs=-1", ">= 0"),
    ("optim.grad_clip=inf", "finite"), ("optim.grad_clip=-1", ">= 0"), ("optim.gamma=nan", "finite"),
    ("optim.gamma=-1", ">= 0"), ("optim.weight_decay=-0.1", ">= 0"), ("optim.ema_decay=1", "< 1"),
    ("optim.ema_decay=nan", "finite"), ("optim.seed=9223372036854775808", "within signed 64 bits"),
    ("optim.seed=-1", ">= 0"), ("optim.seed=1e3", "expected an int"), ("optim.seed=1_0", "expected an int"),
    ("optim.epochs=\u0663", "expected an int"), ("optim.lr=\u0661e-3", "expected a float"),
    ("optim.lr=1_0", "expected a float"), ("optim.device=tpu", "expected auto, cpu, cuda or cuda:N"),
    ("optim.device=cuda:x", "cuda:N"), ("optim.device=", "cuda:N"), ("optim.epochs=0", "> 0"),
    ("optim.batch_size=0", "> 0"), ("optim.accumulate=0", "> 0"), ("optim.eval_every=-2", "> 0"),
    ("optim.num_workers=-1", ">= 0"), ("optim.milestones=[-1]", ">= 0"), ("optim.milestones=[1, x]", "expected an int"),
    ("dim=0", "> 0"), ("dim=-3", "> 0"), ("hidden=0", "> 0"), ("classes=1", ">= 2"), ("n_train=0", "> 0"),
    ("n_val=0", "> 0"), ("noise=nan", "finite"), ("sleep_per_step=inf", "finite"), ("nan_at_step=-2", ">= -1"),
    ("data_seed=-1", ">= 0"),
])
def test_values_refused_before_any_work(tmp_path, capsys, item, needle):
    out = tmp_path / "run"
    refused(capsys, train(out, item), f"--set {item.split('=')[0]}", needle)
    assert not out.exists()


def test_optimiser_refusal_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    refused(capsys, train(out, "optim.optimizer=sgd", "optim.momentum=0", "optim.nesterov=true"),
            "sgd optimiser refuses", "Nesterov")
    assert not out.exists()


@pytest.mark.parametrize("kind,needle", [
    ("empty", "--out '': expected a run folder path"), ("blank", "expected a run folder path"),
    ("a file", "f: is a file; expected a run folder"), ("under a file", "f is a file; expected a run folder path"),
    ("not writable", "is not writable"),
])
def test_out_folder_problems(tmp_path, capsys, monkeypatch, kind, needle):
    (tmp_path / "f").write_text("x")
    out = {"empty": "", "blank": " ", "a file": tmp_path / "f", "under a file": tmp_path / "f" / "run",
           "not writable": tmp_path / "ro" / "run"}[kind]
    if kind == "not writable":  # as root, chmod does not stop writes: the permission check is what is tested
        (tmp_path / "ro").mkdir()
        monkeypatch.setattr(engine.os, "access", lambda p, mode: str(p) != str(tmp_path / "ro"))
    refused(capsys, train(out), needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["f", "ro"] if kind == "not writable" else ["f"])


# ---------------------------------------------------------------------------------------------- no lost runs
def test_a_failed_fresh_run_leaves_the_earlier_run_intact(run, capsys):
    before = snapshot(run)
    refused(capsys, train(run, "optim.lr=-1"), "optim.lr")  # the example: it used to leave 2 files
    refused(capsys, train(run, "optim.epochs=3"), "holds a run", "--resume", "--overwrite")
    refused(capsys, train(run, "optim.epochs=3", flags=["--resume"]), "cannot resume", "optim.epochs")
    refused(capsys, train(run, flags=["--resume", "--overwrite"]), "at most one")
    assert snapshot(run) == before


@pytest.mark.parametrize("failure", ["nan loss at step 1", "nan loss at step 3", "ctrl-c"])
def test_overwrite_that_fails_restores_the_earlier_run(run, capsys, monkeypatch, failure):
    before = snapshot(run)
    if failure == "ctrl-c":
        from mglib.train.toy import ToyTask

        def loss(self, model, batch):
            raise KeyboardInterrupt

        monkeypatch.setattr(ToyTask, "loss", loss)
        rc = main(train(run, "optim.lr=0.5", flags=["--overwrite"]))
        assert rc == 130 and capsys.readouterr().err.strip() == "error: interrupted"
    else:
        step = failure.rsplit(" ", 1)[1]  # step 3 comes after the first epoch's checkpoint (2 steps per epoch)
        rc = main(train(run, f"nan_at_step={step}", "optim.checkpoint_every_s=0", flags=["--overwrite"]))
        assert rc == 2
    if failure == "nan loss at step 3":  # the new run had its checkpoint: the earlier run is gone, as asked
        assert not (run / engine.REPLACED).exists() and not (run / "metrics.json").exists()
        assert torch.load(run / "checkpoint.pt", weights_only=True)["state"]["epoch"] == 1
    else:
        assert snapshot(run) == before


def test_overwrite_replaces_once_the_new_run_has_a_checkpoint(run, capsys):
    res = accepted(capsys, train(run, "optim.lr=0.05", flags=["--overwrite"]))
    assert res == ""
    assert sorted(p.name for p in run.iterdir()) == sorted(RUN_FILES)
    assert '"lr": 0.05' in (run / "config.json").read_text()


@pytest.mark.parametrize("new_checkpoint", [False, True])
def test_a_killed_overwrite_is_recovered_at_the_next_start(run, capsys, new_checkpoint):
    before = snapshot(run)
    aside = run / engine.REPLACED
    aside.mkdir()
    for name in RUN_FILES:
        os.replace(run / name, aside / name)
    (run / "config.json").write_text('{"task": "toy", "config": {}}')  # what the killed run had written
    if new_checkpoint:
        shutil.copy(aside / "checkpoint.pt", run / "checkpoint.pt")
    refused(capsys, train(run, "optim.lr=0.5"), "holds a run")
    assert not aside.exists()
    if not new_checkpoint:
        assert snapshot(run) == before


def test_interrupted_run_of_the_same_config_resumes(run, capsys):
    (run / "metrics.json").unlink()
    accepted(capsys, train(run))
    assert (run / "metrics.json").exists()


# ---------------------------------------------------------------------------------------------- corrupt files
def _edit_checkpoint(path, how):
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "random bytes":
        path.write_bytes(os.urandom(4096))
    elif how == "a folder":
        path.unlink()
        path.mkdir()
    elif how == "malicious pickle":
        class Evil:
            def __reduce__(self):
                return os.system, (f"touch {path.parent / 'pwned'}",)
        path.write_bytes(pickle.dumps(Evil()))
    else:
        ck = torch.load(path, weights_only=True)
        if how == "{}":
            ck = {}
        elif how == "a list":
            ck = [1, 2]
        elif how == "wrong shapes":
            ck["model"]["fc1.weight"] = torch.zeros(3, 3)
        elif how == "missing weights":
            del ck["model"]["fc2.bias"]
        elif how == "nan weights":
            ck["model"]["fc2.weight"][0, 0] = float("nan")
        elif how == "inf optimizer state":
            next(iter(ck["optimizer"]["state"].values()))["exp_avg"].fill_(float("inf"))
        elif how == "optimizer state shape":
            next(iter(ck["optimizer"]["state"].values()))["exp_avg"] = torch.zeros(2)
        elif how == "epoch beyond the run":
            ck["state"]["epoch"] = 7
        elif how == "no rng":
            del ck["rng"]
        elif how == "rng garbage":
            ck["rng"] = [{"python": 1}]
        elif how == "schedule garbage":
            ck["schedule"] = {"step": "x"}
        torch.save(ck, path)


@pytest.mark.parametrize("how,needle", [
    ("truncated", "not a readable checkpoint"), ("empty", "not a readable checkpoint"),
    ("random bytes", "not a readable checkpoint"), ("a folder", "not a readable checkpoint"),
    ("malicious pickle", "not a readable checkpoint"), ("{}", "missing model"), ("a list", "missing model"),
    ("wrong shapes", "model tensor 'fc1.weight' has shape (3, 3), expected (8, 16)"),
    ("missing weights", "missing or unexpected: fc2.bias"), ("nan weights", "non-finite values in model"),
    ("inf optimizer state", "non-finite values in optimizer state"), ("optimizer state shape", "of shape (2,)"),
    ("epoch beyond the run", "state is not that of this run"), ("no rng", "missing rng"),
    ("rng garbage", "not a checkpoint of this run"), ("schedule garbage", "not a checkpoint of this run"),
])
def test_corrupt_checkpoint_on_resume(run, capsys, how, needle):
    (run / "metrics.json").unlink()  # an interrupted run: --resume reads the checkpoint
    _edit_checkpoint(run / "checkpoint.pt", how)
    before = snapshot(run) if how != "a folder" else None
    line = refused(capsys, train(run, flags=["--resume"]), "checkpoint.pt", needle, "--overwrite")
    assert len(line) < 400 and not (run / "pwned").exists()
    if before is not None:
        assert snapshot(run) == before


@pytest.mark.parametrize("name,content,needle", [
    ("config.json", b"{not json", "config.json, row 1: not valid JSON"),
    ("config.json", b"", "config.json, row 1: not valid JSON"),
    ("config.json", b'{"task": "toy", "task": "x"}', "key 'task' appears twice"),
    ("config.json", b'{"task": "\xff"}', "config.json, row 1: byte 0xff is not UTF-8"),
    ("config.json", b"[1, 2]", "cannot resume, the config differs"),
    ("metrics.json", b"{\"score\": NaN}", "metrics.json: NaN is not valid JSON"),
    ("metrics.json", b"[]", "metrics.json: expected the metrics object"),
    ("metrics.json", b"\x00\x01", "metrics.json, row 1: not valid JSON"),
])
def test_corrupt_run_records(run, capsys, name, content, needle):
    (run / name).write_bytes(content)
    before = snapshot(run)
    refused(capsys, train(run, flags=["--resume"]), needle)
    refused(capsys, train(run), needle if name == "metrics.json" or "differs" not in needle else "holds a run")
    assert snapshot(run) == before
    accepted(capsys, train(run, flags=["--overwrite"]))  # and --overwrite starts again
