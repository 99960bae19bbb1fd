"""The training loop on the toy task: run files, reuse, schedules, accumulation, EMA, the non-finite guard."""
import json
import math
import warnings

import pytest
import torch

from mglib.errors import InputError
from mglib.train.config import OptimConfig, apply_overrides
from mglib.train.engine import CHECKPOINT, NonFiniteLossError, Schedule, fit, load_model
from mglib.train.toy import ToyConfig, ToyTask


def toy(*items):
    return ToyTask(apply_overrides(ToyConfig(), ["n_train=48", "n_val=24", "noise=2", "optim.epochs=3", *items]))


def weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_run_folder_and_reuse(tmp_path):
    m = fit(toy(), tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "env.json", "metrics.json", "predictions.json", CHECKPOINT, "best.safetensors"} <= names
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["score"] == m["score"] and m["epochs"] == 3 and m["steps"] == 3 * 6 and m["skipped_steps"] == 0
    assert len(m["history"]) == 3 and all(h["grad_norms"] is None for h in m["history"])  # not asked for
    assert m["best_score"] == max(h["eval"]["score"] for h in m["history"])
    assert m["history"][-1]["train_loss"] < m["history"][0]["train_loss"]
    assert m["score"] > 0.5  # chance is 0.25
    preds = json.loads((tmp_path / "predictions.json").read_text())
    assert len(preds["pred"]) == 24
    acc = sum(p == t for p, t in zip(preds["pred"], preds["label"])) / 24  # evaluation can be redone from files
    assert acc == pytest.approx(m["score"])
    # the checkpoint loads with weights_only, and "last" weights reproduce the final score
    ckpt = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert ckpt["state"]["step"] == 18 and ckpt["state"]["epoch"] == 3
    task = toy()
    model = load_model(task, tmp_path, "last")
    x, y = task.datasets()[1].tensors
    assert (model(x).argmax(1) == y).float().mean().item() == pytest.approx(m["score"])
    assert load_model(task, tmp_path, "best") is not None
    # same config: reused without training (the file is returned as is); another config retrains when asked to
    mtime = (tmp_path / "metrics.json").stat().st_mtime_ns
    assert fit(toy(), tmp_path) == on_disk and (tmp_path / "metrics.json").stat().st_mtime_ns == mtime
    with pytest.raises(InputError, match="holds a run .*--overwrite"):  # another config never replaces it silently
        fit(toy("optim.lr=0.001"), tmp_path)
    m2 = fit(toy("optim.lr=0.001"), tmp_path, overwrite=True)
    assert json.loads((tmp_path / "config.json").read_text())["config"]["optim"]["lr"] == 0.001
    assert m2["history"] != m["history"]


def test_resume_with_another_config_is_refused(tmp_path):
    fit(toy("optim.epochs=1"), tmp_path)
    with pytest.raises(InputError, match="optim.lr"):
        fit(toy("optim.epochs=1", "optim.lr=0.5"), tmp_path, resume=True)


def test_seed_determinism_and_sensitivity(tmp_path):
    a = fit(toy("optim.epochs=1"), tmp_path / "a")
    b = fit(toy("optim.epochs=1"), tmp_path / "b")
    c = fit(toy("optim.epochs=1", "optim.seed=1"), tmp_path / "c")
    assert a["history"] == b["history"] and a["history"] != c["history"]


def test_schedules():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    for g in opt.param_groups:
        g["initial_lr"] = 0.1
    cos = Schedule(opt, OptimConfig(epochs=4, warmup_epochs=1, schedule="cosine"), steps_per_epoch=10)
    f = [cos.factor(s) for s in range(40)]
    assert f[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert f[10] == 1.0 and f[25] == pytest.approx(0.5 * (1 + math.cos(math.pi * 15 / 30)))
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    step = Schedule(opt, OptimConfig(epochs=4, schedule="step", milestones=(2, 3), gamma=0.5), steps_per_epoch=10)
    assert [step.factor(s) for s in (0, 19, 20, 29, 30, 39)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    const = Schedule(opt, OptimConfig(epochs=4, schedule="constant"), steps_per_epoch=10)
    const.step_count = 17
    assert const.apply() == pytest.approx(0.1)


def test_accumulation_matches_the_large_batch(tmp_path):
    fit(toy("optim.epochs=1", "optim.optimizer=sgd", "optim.batch_size=8"), tmp_path / "big")
    fit(toy("optim.epochs=1", "optim.optimizer=sgd", "optim.batch_size=4", "optim.accumulate=2"),
        tmp_path / "acc")
    task = toy()
    big, acc = load_model(task, tmp_path / "big", "last"), load_model(task, tmp_path / "acc", "last")
    assert torch.allclose(weights(big), weights(acc), atol=1e-6)


def test_ema_and_clipping(tmp_path):
    m = fit(toy("optim.epochs=1", "optim.ema_decay=0.9", "optim.grad_clip=0.5"), tmp_path)
    ckpt = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    raw, ema = ckpt["model"]["fc1.weight"], ckpt["ema"]["fc1.weight"]
    assert not torch.equal(raw, ema)
    assert torch.equal(load_model(toy(), tmp_path, "last").fc1.weight, ema)  # evaluation used the EMA weights
    assert m["history"][0]["grad_norm"]["max"] > 0.5  # the norm logged is the one before clipping
    assert len(m["history"][0]["grad_norms"]) == 6  # clipping computes the norm: every step is logged


def test_grad_norm_logging_on_request(tmp_path):
    m = fit(toy("optim.epochs=1", "optim.log_grad_norm=true"), tmp_path)
    norms = m["history"][0]["grad_norms"]
    assert len(norms) == 6 and all(v > 0 for v in norms)
    assert m["history"][0]["grad_norm"]["max"] == max(norms)


def test_nonfinite_stop_keeps_the_last_good_checkpoint(tmp_path):
    fit(toy("optim.epochs=1", "optim.schedule=constant"), tmp_path / "ref")  # 6 steps per epoch
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 9 .*epoch 2"):
        fit(toy("nan_at_step=9", "optim.schedule=constant", "optim.checkpoint_every_s=0"), tmp_path / "run")
    ckpt = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert ckpt["state"]["step"] == 6 and ckpt["state"]["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    ref = torch.load(tmp_path / "ref" / CHECKPOINT, weights_only=True)
    assert all(torch.equal(ckpt["model"][k], ref["model"][k]) for k in ref["model"])
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_nonfinite_gradient_behind_a_finite_loss(tmp_path):
    # with the per-step norm: stopped at the very step
    with pytest.raises(NonFiniteLossError, match="non-finite gradient norm .* at step 3 "):
        fit(toy("nan_grad_at_step=3", "optim.log_grad_norm=true"), tmp_path / "norm")
    # without it: the NaN weights make the next loss NaN ...
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 4 "):
        fit(toy("nan_grad_at_step=3"), tmp_path / "next")
    # ... or, at the last step of an epoch, the end-of-epoch check stops before the checkpoint is overwritten
    with pytest.raises(NonFiniteLossError, match="non-finite weights at the end of epoch 2 .*epoch 1.* intact"):
        fit(toy("nan_grad_at_step=12", "optim.checkpoint_every_s=0"), tmp_path / "epoch")
    ckpt = torch.load(tmp_path / "epoch" / CHECKPOINT, weights_only=True)
    assert ckpt["state"]["epoch"] == 1 and all(torch.isfinite(v).all() for v in ckpt["model"].values())
    # skip mode always checks the norm, so the step is skipped and training goes on
    m = fit(toy("nan_grad_at_step=3", "optim.nonfinite=skip"), tmp_path / "skip")
    assert m["skipped_steps"] == 1 and m["history"][0]["grad_norms"][2] is None


def test_nonfinite_skip_counts_and_continues(tmp_path):
    m = fit(toy("nan_at_step=4", "optim.nonfinite=skip"), tmp_path)
    assert m["skipped_steps"] == 1 and m["history"][0]["skipped_steps"] == 1
    assert m["history"][0]["grad_norms"][3] is None and m["steps"] == 18
    assert all(torch.isfinite(p).all() for p in load_model(toy(), tmp_path, "last").parameters())


def test_precision_choice(monkeypatch):
    from mglib.train import engine
    cuda = torch.device("cuda")
    assert engine._precision(OptimConfig(), torch.device("cpu"))[0] is None  # fp32 on CPU
    assert engine._precision(OptimConfig(amp=False), cuda)[0] is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert engine._precision(OptimConfig(), cuda)[0] == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with warnings.catch_warnings():  # the GradScaler disables itself, with a warning, where CUDA is absent
        warnings.simplefilter("ignore")
        assert engine._precision(OptimConfig(), cuda)[0] == torch.float16


def test_loop_with_autocast_and_a_gradient_scaler(tmp_path, monkeypatch):
    # The CUDA fp16 path (autocast + scaler: scale, unscale before the norm, step, update, checkpointed state),
    # run on the CPU's own autocast and scaler so that the engine's logic is exercised without a GPU.
    from mglib.train import engine
    monkeypatch.setattr(engine, "_precision",
                        lambda oc, device: (torch.bfloat16, torch.amp.GradScaler("cpu", init_scale=2.0**16)))
    m = fit(toy("optim.grad_clip=5"), tmp_path / "run")
    assert m["steps"] == 18 and m["skipped_steps"] == 0
    assert m["history"][-1]["train_loss"] < m["history"][0]["train_loss"]
    norms = [v for h in m["history"] for v in h["grad_norms"]]
    assert all(0 < v < 100 for v in norms)  # unscaled (not 2**16 times larger) before the norm is taken
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["scaler"]["scale"] > 0

    def crash(self, model, step):
        if step == 7:  # just after the first epoch's checkpoint
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(ToyTask, "on_step_end", crash)
        with pytest.raises(KeyboardInterrupt):
            fit(toy("optim.grad_clip=5", "optim.checkpoint_every_s=0"), tmp_path / "resumed")
    resumed = fit(toy("optim.grad_clip=5", "optim.checkpoint_every_s=0"), tmp_path / "resumed", resume=True)
    assert resumed["history"] == m["history"]  # the scaler's state came back with the checkpoint


def test_checkpoint_interval_writes_fewer_checkpoints_and_trains_the_same(tmp_path, monkeypatch):
    from mglib.train import engine

    writes = []
    save = engine._save_atomic
    monkeypatch.setattr(engine, "_save_atomic", lambda obj, path: (writes.append(obj["state"]["epoch"]),
                                                                   save(obj, path)))
    every = fit(toy("optim.checkpoint_every_s=0"), tmp_path / "every")
    assert writes == [1, 2, 3]
    writes.clear()
    once = fit(toy("optim.checkpoint_every_s=3600"), tmp_path / "once")
    assert writes == [3]  # only the last epoch: the run is shorter than the interval
    every.pop("timing"), once.pop("timing")
    assert every == once
    a, b = (torch.load(d / CHECKPOINT, weights_only=True) for d in (tmp_path / "every", tmp_path / "once"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
