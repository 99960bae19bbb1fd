"""``python -m mglib doctor [--dry-run] [--json]``: does this machine run the ``gpu`` profile correctly and fast enough?

One command, ≤ 10 min on one H200. Every check is independent (a failing check never stops the others) and ends
as ``pass``, ``fail`` or ``skip`` with a reason:

| check | what | tolerance / criterion |
|---|---|---|
| ``environment`` | torch build, CUDA devices, optional packages | a CUDA device is visible (unless ``--dry-run``) |
| ``loader:<layout>`` | a fabricated official checkpoint (random values, official names and shapes) loads into the paper-size model | every tensor arrives |
| ``weights:<file>`` | the gpu profile's weight files, when present, load into their models | no refusal |
| ``paper_models`` | every model of the gpu profile builds at paper size (meta device); parameter counts | builds |
| ``mamba:<dtype>`` | mamba-ssm's CUDA kernels against the pure-PyTorch Mamba, forward and backward | max error / max magnitude ≤ ``MAMBA_TOL`` |
| ``amp:<model>`` | one training step in bf16 and in fp16 with a GradScaler against fp32, the paper's model of each study | \\|Δloss\\| ≤ ``AMP_TOL`` · \\|loss\\| + 1e-3, finite |
| ``checkpointing:gradients`` | activation checkpointing on the ViT adapters changes no gradient | ≤ 1e-4 relative |
| ``checkpointing:memory`` | peak memory of a DSTA training step with and without it | lower with it |
| ``ddp:nccl`` | two ranks over NCCL (torchrun, the engine's toy task) agree, and match one process | ranks identical, ≤ 1e-5 |
| ``throughput:<model>`` | training clips/s of each study's model at paper size, the gpu profile's batch | runs |
| ``data_loading`` | the classification loader's clips/s (8 workers, heatmaps built on the fly) against the model's | loader ≥ model |

``--dry-run`` runs on a CPU in seconds: CUDA-only checks are ``skip`` with the reason; the AMP and checkpointing
logic runs on the CPU with the smoke profile's tiny models (CPU autocast). Results go to
``results/gpu_check/report.json`` (``report_dry_run.json`` for a dry run, so it never replaces a CUDA machine's).
"""
from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mglib import paths

AMP_TOL = {"bf16": 5e-2, "fp16": 1e-2}  # relative loss difference against fp32
MAMBA_TOL = {"fp32": {"forward": 1e-3, "backward": 5e-3}, "bf16": {"forward": 5e-2, "backward": 1e-1}}
STEPS = 5  # timed steps per throughput measurement, after 2 warm-up steps


@dataclass
class Check:
    name: str
    status: str  # pass | fail | skip
    reason: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "reason": self.reason, **self.details}


class Context:
    """What the checks share: the mode, the device, the models, measured throughputs."""

    def __init__(self, dry_run: bool):
        self.dry_run = dry_run
        self.cuda = torch.cuda.is_available() and not dry_run
        self.device = torch.device("cuda" if self.cuda else "cpu")
        self.throughput: dict[str, float] = {}
        self._models: dict[str, list] = {}

    def models(self, profile: str):
        if profile not in self._models:
            from mglib.doctor_models import paper_models

            self._models[profile] = paper_models(profile)
        return self._models[profile]

    def cuda_only(self) -> str | None:
        """Why a CUDA-only check cannot run here, or None."""
        if self.dry_run:
            return "dry run: CUDA-only check"
        if not self.cuda:
            return "no CUDA device visible to torch"
        return None


def _batch_to(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: _batch_to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_batch_to(v, device) for v in obj)
    return obj


def _sync(ctx: Context):
    if ctx.cuda:
        torch.cuda.synchronize()


# --- checks that run everywhere -------------------------------------------------------------------------------

def check_environment(ctx: Context) -> list[Check]:
    from mglib.models import tv_video
    from mglib.models.mamba import mamba_ssm_available

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    details = {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "gpus": n,
               "gpu_names": [torch.cuda.get_device_name(i) for i in range(n)],
               "bf16": bool(n and torch.cuda.is_bf16_supported()), "mamba_ssm": mamba_ssm_available(),
               "torchvision": tv_video.available()[0]}
    if n == 0 and not ctx.dry_run:
        why = "a CPU build of torch" if torch.version.cuda is None else "no device visible"
        return [Check("environment", "fail", f"torch {torch.__version__}: {why}; install the CUDA build of the "
                                             "same torch version (README, 'CUDA machine')", details)]
    return [Check("environment", "pass", f"torch {torch.__version__}, {n} GPU(s)", details)]


def check_loaders(ctx: Context) -> list[Check]:
    """Fabricated official checkpoints through the public loaders into paper-size models."""
    from mglib.models import official_layouts as OL
    from mglib.models.poseconv3d import (RGBPoseConfig, RGBPoseConv3D, Recognizer3D, load_pyskl_weights,
                                         pose_config, rgb_config)
    from mglib.models.video_encoder import VideoEncoder, VideoEncoderConfig, load_i3d_weights
    from mglib.models.vit import VideoViT, load_videomae, vit_config

    cases = [  # layout, official state dict, its container key, the paper-size model, the loader
        ("videomae-pretrain", OL.videomae_pretrain(384, 12, 192), "model",
         lambda: VideoViT(vit_config("small", img_size=160)), load_videomae),
        ("videomae-mmaction", OL.videomae_mmaction(384, 12), "state_dict",
         lambda: VideoViT(vit_config("small", img_size=160)), load_videomae),
        ("i3d", OL.i3d(400), None, lambda: VideoEncoder(VideoEncoderConfig(width=1.0, num_classes=400)),
         lambda m, p: load_i3d_weights(m, p, with_head=True)),
        ("pyskl-rgbpose", OL.rgbposeconv3d(32, 17), "state_dict",
         lambda: RGBPoseConv3D(RGBPoseConfig(rgb_config(), pose_config(17, two_stream=True), num_classes=32)),
         lambda m, p: load_pyskl_weights(m, p, with_head=True)),
        ("pyskl-posec3d", OL.posec3d(60, 17), "state_dict", lambda: Recognizer3D(pose_config(17), 60),
         lambda m, p: load_pyskl_weights(m, p, with_head=True)),
    ]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for layout, shapes, key, build, load in cases:
            def one(layout=layout, shapes=shapes, key=key, build=build, load=load):
                path = Path(tmp) / f"{layout}.pth"
                state = OL.fabricate(shapes)
                torch.save({key: state} if key else state, path)
                model = build()
                report = load(model, path)
                path.unlink()
                lost = OL.not_arrived(model, state, tuple(report.unused))
                if report.layout != layout or lost or report.kept:
                    return Check(f"loader:{layout}", "fail", f"{len(lost)} tensors did not arrive, e.g. {lost[:1]}; "
                                                             f"{report.line()}")
                return Check(f"loader:{layout}", "pass", f"{report.loaded} tensors arrived, {len(report.unused)} "
                                                         "not used by design", {"unused": report.unused})
            out.append(_guard(f"loader:{layout}", one))
    return out


def check_weights(ctx: Context) -> list[Check]:
    """The weight files named by the gpu profile, where they are on disk, into their paper-size models."""
    from mglib import profiles

    files = {}
    for nb, key in (("04_video_encoder", "encoder_weights"), ("20_online", "encoder_weights"),
                    ("30_mmad", "backbone_ckpt")):
        value = profiles.resolve(nb, "gpu")[key]
        if value:
            files.setdefault(value, nb)
    models = {m.name: m for m in ctx.models("gpu")}
    out = []
    for value, nb in files.items():
        path = Path(value) if Path(value).is_absolute() else paths.ROOT / value
        name = f"weights:{value}"
        if not path.is_file():
            out.append(Check(name, "skip", f"{value} not found (the gpu profile of {nb} reads it; README, "
                                           "'CUDA machine')"))
            continue

        def one():
            if nb == "30_mmad":
                from mglib.models.vit import load_videomae

                report = load_videomae(models["30_mmad/dsta"].build().vit, path)
            else:
                from mglib.models.video_encoder import load_i3d_weights

                report = load_i3d_weights(models["04_video_encoder/i3d"].build(), path)
            return Check(name, "pass", report.line())
        out.append(_guard(name, one))
    return out


def check_paper_models(ctx: Context) -> list[Check]:
    rows, skipped, failed = [], [], []
    for m in ctx.models("gpu"):
        if m.skip:
            skipped.append(f"{m.name} ({m.skip})")
            continue
        try:
            with torch.device("meta"):  # shapes only: no memory, no initialisation
                net = m.build()
        except Exception as e:  # one model's failure is reported with the others' counts
            failed.append(_failed(m.name, e).reason)
            continue
        rows.append({"model": m.name, "params": sum(p.numel() for p in net.parameters()), "counted": m.count(net),
                     "reported_M": m.reported_M})
    reason = (f"{len(rows)} models built at paper size" + (f"; FAILED: {'; '.join(failed)}" if failed else "")
              + (f"; not built: {'; '.join(skipped)}" if skipped else ""))
    return [Check("paper_models", "fail" if failed else "pass", reason, {"models": rows})]


def _step_loss(model, m, batch, dtype, device, scaler=None):
    """One training step's loss (and gradients) under autocast ``dtype`` (None = fp32)."""
    torch.manual_seed(0)  # the same dropout masks in every precision
    model.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        loss = m.loss(model, batch)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    return loss.detach().float()


def _grads_finite(model) -> bool:
    return all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def check_amp(ctx: Context) -> list[Check]:
    """bf16, and fp16 with a GradScaler, against fp32 on the paper's model of each study (dry run: the smoke
    profile's tiny models on CPU autocast)."""
    profile = "smoke" if not ctx.cuda else "gpu"
    out = []
    for m in ctx.models(profile):
        if not m.main:
            continue
        name = f"amp:{m.name}"

        def one(m=m, name=name):
            torch.manual_seed(0)
            with ctx.device:
                base = m.build().train()
            init = copy.deepcopy(base)  # a step moves buffers (BN statistics, a loss normaliser): copy them first
            batch = _batch_to(m.example(m.batch_size, False), ctx.device)
            ref = _step_loss(base, m, batch, None, ctx.device)
            details = {"profile": profile, "device": ctx.device.type, "loss_fp32": round(float(ref), 6)}
            problems = []
            for tag, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
                model = copy.deepcopy(init)
                scaler = torch.amp.GradScaler(ctx.device.type) if tag == "fp16" else None
                loss = _step_loss(model, m, batch, dtype, ctx.device, scaler)
                if scaler is not None:
                    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
                    scaler.unscale_(opt)
                    finite = _grads_finite(model)
                    scaler.step(opt)  # skipped by the scaler if the gradients overflowed (its job)
                    scaler.update()
                    details["fp16_scaled_grads_finite"] = finite  # False: the scaler lowers its scale
                elif not _grads_finite(model):
                    # judged on CUDA only: torch's CPU bf16 conv3d weight gradient is not finite when a temporal
                    # kernel of 3 meets a 2-frame clip (torch 2.13; the smoke models have such clips)
                    details[f"{tag}_grads_finite"] = False
                    if ctx.cuda:
                        problems.append(f"{tag} gradients not finite")
                rel = abs(float(loss) - float(ref)) / max(abs(float(ref)), 1e-6)
                details[f"loss_{tag}"], details[f"rel_diff_{tag}"] = round(float(loss), 6), round(rel, 6)
                if not torch.isfinite(loss):
                    problems.append(f"{tag} loss {float(loss)}")
                elif abs(float(loss) - float(ref)) > AMP_TOL[tag] * abs(float(ref)) + 1e-3:
                    problems.append(f"{tag} loss differs by {rel:.2%} (tolerance {AMP_TOL[tag]:.0%})")
            if problems:
                return Check(name, "fail", "; ".join(problems), details)
            return Check(name, "pass", f"bf16 {details['rel_diff_bf16']:.2%}, fp16 {details['rel_diff_fp16']:.2%} "
                                       "from fp32", details)
        out.append(_guard(name, one))
    return out


def _dsta(ctx: Context):
    """The detection study's DSTA model: paper size on CUDA, smoke size on a CPU."""
    return next(m for m in ctx.models("gpu" if ctx.cuda else "smoke") if m.name == "30_mmad/dsta")


def check_checkpointing_gradients(ctx: Context) -> list[Check]:
    def one():
        m = _dsta(ctx)
        torch.manual_seed(0)
        with ctx.device:
            base = m.build().train()
        batch = _batch_to(m.example(1, False), ctx.device)
        grads, calls = [], []
        for on in (False, True):
            model = copy.deepcopy(base)  # the head's loss normaliser moves with every step
            model.vit.cfg.checkpoint = on
            count = [0]
            # a pre-hook: the recomputation stops as soon as it has what the backward needs, before any post-hook
            model.vit.blocks[0].register_forward_pre_hook(lambda *_: count.__setitem__(0, count[0] + 1))
            _step_loss(model, m, batch, None, ctx.device)
            grads.append([p.grad for p in model.parameters() if p.grad is not None])
            calls.append(count[0])
        err = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-12)) for a, b in zip(*grads))
        details = {"tensors": len(grads[0]), "block_forwards_without": calls[0], "block_forwards_with": calls[1]}
        if calls != [1, 2]:
            return Check("checkpointing:gradients", "fail", f"block 0 ran {calls[1]} forward(s) with checkpointing "
                                                            "(2 expected: the backward recomputes it)", details)
        status = "pass" if err <= 1e-4 and len(grads[0]) == len(grads[1]) else "fail"
        return Check("checkpointing:gradients", status, f"recomputed in the backward; max relative gradient "
                                                        f"difference {err:.1e} (≤ 1e-4)", details)
    return [_guard("checkpointing:gradients", one)]


def check_checkpointing_memory(ctx: Context) -> list[Check]:
    why = ctx.cuda_only()
    if why:
        return [Check("checkpointing:memory", "skip", why)]

    def one():
        m = _dsta(ctx)
        with ctx.device:
            model = m.build().train()
        batch = _batch_to(m.example(m.batch_size, False), ctx.device)
        peak, secs = {}, {}
        for on in (False, True):
            model.vit.cfg.checkpoint = on
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            t = time.perf_counter()
            _step_loss(model, m, batch, torch.bfloat16, ctx.device)
            _sync(ctx)
            secs[on], peak[on] = time.perf_counter() - t, torch.cuda.max_memory_allocated() / 2 ** 30
        details = {"peak_GiB_without": round(peak[False], 2), "peak_GiB_with": round(peak[True], 2),
                   "step_s_without": round(secs[False], 3), "step_s_with": round(secs[True], 3),
                   "batch": m.batch_size}
        status = "pass" if peak[True] < peak[False] else "fail"
        return Check("checkpointing:memory", status, f"peak {peak[False]:.1f} GiB without, {peak[True]:.1f} GiB with "
                                                     f"(batch {m.batch_size}, bf16)", details)
    return [_guard("checkpointing:memory", one)]


# --- CUDA-only checks -----------------------------------------------------------------------------------------

def check_mamba(ctx: Context) -> list[Check]:
    from mglib.models.mamba import Mamba, mamba_ssm_available

    why = ctx.cuda_only() or (None if mamba_ssm_available() else "mamba_ssm does not import (pip install -e "
                                                                  "'.[gpu]'; it needs nvcc to build)")
    if why:
        return [Check(f"mamba:{d}", "skip", why) for d in MAMBA_TOL]
    out = []
    for tag, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        def one(tag=tag, dtype=dtype):
            torch.manual_seed(0)
            fast = Mamba(512, d_state=16).cuda()  # the paper's query width
            ref = copy.deepcopy(fast)
            ref.use_fast_path = False
            x = torch.randn(2, 256, 512, device="cuda")
            res = {}
            for key, block in (("kernel", fast), ("torch", ref)):
                xi = x.clone().requires_grad_(True)
                with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
                    y = block(xi)
                y.float().square().mean().backward()
                res[key] = (y.float(), xi.grad.float(), block.in_proj.weight.grad.float())
            if fast.last_path != "cuda":
                return Check(f"mamba:{tag}", "fail", f"the block ran the {fast.last_path} path, not mamba_ssm's kernel")
            err = lambda a, b: float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))  # noqa: E731
            fwd = err(res["kernel"][0], res["torch"][0])
            bwd = max(err(res["kernel"][i], res["torch"][i]) for i in (1, 2))
            tol = MAMBA_TOL[tag]
            status = "pass" if fwd <= tol["forward"] and bwd <= tol["backward"] else "fail"
            return Check(f"mamba:{tag}", status, f"forward {fwd:.1e} (≤ {tol['forward']:g}), backward {bwd:.1e} "
                                                 f"(≤ {tol['backward']:g}), relative to the largest value",
                         {"forward_err": fwd, "backward_err": bwd, "tolerance": tol})
        out.append(_guard(f"mamba:{tag}", one))
    return out


def check_ddp(ctx: Context) -> list[Check]:
    why = ctx.cuda_only()
    if not why and torch.cuda.device_count() < 2:
        why = f"{torch.cuda.device_count()} GPU visible: DDP over NCCL needs 2"
    if why:
        return [Check("ddp:nccl", "skip", why)]

    def one():
        import os
        import subprocess

        sets = ["n_train=64", "n_val=16", "optim.epochs=2", "optim.batch_size=16", "optim.amp=false",
                "optim.device=cuda"]
        with tempfile.TemporaryDirectory() as tmp:
            def train(cmd, tag):
                args = [a for s in sets + [f"dump_rank_weights={tmp}/{tag}"] for a in ("--set", s)]
                r = subprocess.run([sys.executable, *cmd, "-m", "mglib", "train", "toy", *args, "--out",
                                    f"{tmp}/{tag}_run"], capture_output=True, text=True, timeout=300,
                                   env={**os.environ, "PYTHONPATH": str(paths.ROOT)})
                if r.returncode:
                    raise RuntimeError(f"{tag}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
            train(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"], "ddp")
            train([], "one")
            r0, r1, one_ = (torch.load(f"{tmp}/{d}/rank{k}.pt", weights_only=True)
                            for d, k in (("ddp", 0), ("ddp", 1), ("one", 0)))
        same = all(torch.equal(r0[k], r1[k]) for k in r0)
        err = max(float((r0[k] - one_[k]).abs().max()) for k in r0)
        status = "pass" if same and err <= 1e-5 else "fail"
        return Check("ddp:nccl", status, f"ranks identical: {same}; largest difference from one process {err:.1e} "
                                         "(≤ 1e-5)", {"max_abs_diff": err})
    return [_guard("ddp:nccl", one)]


def check_throughput(ctx: Context) -> list[Check]:
    why = ctx.cuda_only()
    mains = [m for m in ctx.models("gpu") if m.main]
    if why:
        return [Check(f"throughput:{m.name}", "skip", why) for m in mains]
    out = []
    for m in mains:
        def one(m=m):
            torch.manual_seed(0)
            with ctx.device:
                model = m.build().train()
            opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4)
            batch = _batch_to(m.example(m.batch_size, False), ctx.device)
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16  # the engine's choice
            torch.cuda.reset_peak_memory_stats()
            for i in range(2 + STEPS):
                if i == 2:
                    _sync(ctx)
                    t = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=dtype):
                    loss = m.loss(model, batch)
                loss.backward()
                opt.step()
            _sync(ctx)
            rate = STEPS * m.batch_size / (time.perf_counter() - t)
            ctx.throughput[m.name] = rate
            return Check(f"throughput:{m.name}", "pass", f"{rate:.1f} clips/s (batch {m.batch_size}, "
                                                         f"{str(dtype).split('.')[-1]})",
                         {"clips_per_s": round(rate, 2), "batch": m.batch_size,
                          "peak_GiB": round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)})
        out.append(_guard(f"throughput:{m.name}", one))
    return out


def check_data_loading(ctx: Context) -> list[Check]:
    """Does the classification loader (pose heatmaps drawn on the fly, 8 workers) keep up with its model? The dry
    run exercises it on a few clips in the main process."""
    name = "data_loading:10_classification"

    def one():
        from torch.utils.data import DataLoader

        from mglib import profiles
        from mglib.studies.classification import config as study_config
        from mglib.studies.classification.config import run_config
        from mglib.studies.classification.task import ClassificationTask

        p = profiles.resolve("10_classification", "gpu")
        real = paths.ROOT / p["data_root"]
        root, source = ((real, "real") if (real / "imigue.pkl").is_file()
                        else (paths.synthetic_dir("imigue", "smoke"), "synthetic smoke"))
        if not (root / "imigue.pkl").is_file():
            return Check(name, "skip", f"no iMiGUE data at {p['data_root']} nor synthetic data "
                                       "(python -m mglib data ensure --profile smoke)")
        n = 8 if ctx.dry_run else 64
        cfg = run_config(study_config(p).run, "doctor", method="rgbpose_cmf_prm", data_root=str(root), max_clips=n)
        workers = 0 if ctx.dry_run else cfg.optim.num_workers
        task = ClassificationTask(cfg)
        train = task.dataset(cfg.train_split, train=True)
        loader = DataLoader(train, batch_size=min(cfg.optim.batch_size, n // 2), shuffle=True,
                            collate_fn=task.collate, num_workers=workers)
        it = iter(loader)
        next(it)  # workers started
        t, clips = time.perf_counter(), 0
        for batch in it:
            clips += len(batch["label"])
        rate = clips / (time.perf_counter() - t)
        model_rate = ctx.throughput.get("10_classification/rgbpose_cmf_prm")
        details = {"loader_clips_per_s": round(rate, 2), "num_workers": workers, "data": source,
                   "model_clips_per_s": None if model_rate is None else round(model_rate, 2)}
        what = f"loader {rate:.1f} clips/s ({source} data, {workers} workers)"
        if model_rate is None:
            return Check(name, "skip", f"{what}; no model throughput to compare with "
                                       f"({ctx.cuda_only() or 'its check failed'})", details)
        if rate >= model_rate:
            return Check(name, "pass", f"{what} ≥ model {model_rate:.1f} clips/s", details)
        return Check(name, "fail", f"{what} < model {model_rate:.1f} clips/s: the GPU waits; raise optim.num_workers",
                     details)
    return [_guard(name, one)]


CHECKS = (check_environment, check_loaders, check_weights, check_paper_models, check_mamba, check_amp,
          check_checkpointing_gradients, check_checkpointing_memory, check_ddp, check_throughput, check_data_loading)


def _failed(name: str, e: Exception) -> Check:
    tb = traceback.extract_tb(e.__traceback__)[-1]
    first = str(e).splitlines()[0] if str(e) else ""
    return Check(name, "fail", f"{type(e).__name__}: {first} ({Path(tb.filename).name}:{tb.lineno})")


def _guard(name: str, fn) -> Check:
    """Run one check; an exception becomes a ``fail`` naming it, never an abort."""
    try:
        return fn()
    except Exception as e:  # the doctor reports every failure and goes on
        return _failed(name, e)


def run(dry_run: bool = False, out: Path | None = None, log=sys.stderr) -> dict:
    """Run every check; write and return the report."""
    ctx = Context(dry_run)
    start = time.perf_counter()
    checks: list[Check] = []
    for fn in CHECKS:
        t = time.perf_counter()
        name = fn.__name__.removeprefix("check_")
        try:
            found = fn(ctx)
        except Exception as e:  # a check's own set-up failed (e.g. the models did not build)
            found = [_failed(name, e)]
        checks += found
        print(f"doctor: {name} ({time.perf_counter() - t:.1f} s): "
              + ", ".join(f"{c.name} {c.status}" for c in found), file=log)
    report = {"dry_run": dry_run, "device": str(ctx.device), "wall_s": round(time.perf_counter() - start, 1),
              "checks": [c.to_dict() for c in checks]}
    out = out or paths.RESULTS / "gpu_check" / ("report_dry_run.json" if dry_run else "report.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    report["report_file"] = paths.relative(out)
    return report


def table(report: dict) -> str:
    rows = [(c["name"], c["status"], c["reason"]) for c in report["checks"]]
    w = max(len(r[0]) for r in rows)
    lines = [f"{'check':{w}s}  status  reason", f"{'-' * w}  ------  ------"]
    lines += [f"{n:{w}s}  {s:6s}  {r}" for n, s, r in rows]
    models = next((c.get("models") for c in report["checks"] if c["name"] == "paper_models"), None)
    if models:
        head = "model (gpu profile, paper size; M = 2^20)"
        m = max(len(head), *(len(r["model"]) for r in models))
        lines += ["", f"{head:{m}s}  {'parameters':>12s}  {'trainable, M':>12s}  reported, M",
                  f"{'-' * m}  {'-' * 12}  {'-' * 12}  -----------"]
        for r in models:
            rep = "" if r["reported_M"] is None else f"{r['reported_M']:.2f}"
            lines.append(f"{r['model']:{m}s}  {r['params']:>12,}  {r['counted'] / 2 ** 20:>12.3f}  {rep}")
    counts = {s: sum(c["status"] == s for c in report["checks"]) for s in ("pass", "fail", "skip")}
    lines += ["", f"{counts['pass']} pass, {counts['fail']} fail, {counts['skip']} skip in {report['wall_s']} s; "
                  f"report: {report['report_file']}"]
    return "\n".join(lines)


def main(args) -> int:
    report = run(args.dry_run)
    if args.json:
        print(json.dumps(report))
    else:
        print(table(report))
    return 1 if any(c["status"] == "fail" for c in report["checks"]) else 0
