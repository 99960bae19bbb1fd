"""Paper-size dry runs on a CPU: every model of the gpu profile (mglib.doctor_models) builds at the papers' size,
has the parameter count the papers report where they report one, and trains one step on its smallest input."""
import math

import pytest
import torch

from mglib import doctor_models as DM
from mglib.models.adapters import param_report


@pytest.fixture(scope="module")
def models():
    return DM.paper_models()


def _sum_outputs(out):
    if isinstance(out, torch.Tensor):
        return out.float().sum() if out.is_floating_point() else 0
    if isinstance(out, dict):
        return sum(_sum_outputs(v) for v in out.values())
    if isinstance(out, (list, tuple)):
        return sum(_sum_outputs(v) for v in out)
    return 0


def _to(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to(v, device) for v in obj)
    return obj


@pytest.mark.slow
def test_every_gpu_model_builds_at_paper_size(models):
    """Built on the meta device (no memory, no init): the construction code and the parameter counts."""
    counts = {}
    for m in models:
        if m.skip:
            print(f"{m.name:42s} skipped: {m.skip}")
            continue
        with torch.device("meta"):
            net = m.build()
        counts[m.name] = m.count(net)
        rep = f"{m.reported_M:.2f} M reported" if m.reported_M is not None else "(no reported count)"
        print(f"{m.name:42s} {sum(p.numel() for p in net.parameters()):>12,} total, "
              f"{param_report(counts[m.name])['text']} counted; {rep}")
    assert {n.split("/")[0] for n in counts} == {"04_video_encoder", "10_classification", "20_online",
                                                  "21_online_ablations", "30_mmad"}
    # Table 4 of the MMAD paper (VideoMAE-S, M = 2^20): the standard adapter and TIA agree to its two decimals,
    # full fine-tuning to 0.2 %; DSTA does not (1.39 here: reading #3 in mglib/models/adapters.py)
    for name in ("standard", "tia"):
        assert round(counts[f"30_mmad/{name}"] / 2 ** 20, 2) == DM.REPORTED_TABLE4_M[name]
    assert math.isclose(counts["30_mmad/full"] / 2 ** 20, DM.REPORTED_TABLE4_M["full"], rel_tol=2e-3)
    assert counts["30_mmad/full"] == 21_879_936  # VideoMAE ViT-S encoder
    assert counts["30_mmad/snippet"] == counts["30_mmad/pointtad"] == 0  # frozen features
    assert counts["20_online/pointtad_mamba_mhsa"] > counts["20_online/pointtad_mhsa"]


@pytest.mark.slow
def test_every_gpu_model_trains_one_step_on_its_smallest_input(models):
    """Forward, the study's loss and backward on real tensors; a model that only resizes another (21's ablation
    grid) runs forward and backward on the meta device (shapes and autograd, no values)."""
    for m in models:
        if m.skip:
            continue
        torch.manual_seed(0)
        if m.variant_of:
            with torch.device("meta"):
                net = m.build(small=True)
            x, _ = m.example(1, True)
            _sum_outputs(net.train()(_to(x, "meta"))).backward()
            assert all(p.grad is not None for p in net.parameters() if p.requires_grad), m.name
            continue
        net = m.build(small=True).train()
        loss = m.loss(net, m.example(1 if m.batch_size == 1 else 2, True))
        assert loss.ndim == 0 and torch.isfinite(loss), (m.name, loss)
        loss.backward()
        grads = [p.grad for p in net.parameters() if p.requires_grad]
        assert grads and all(g is None or torch.isfinite(g).all() for g in grads), m.name
        assert sum(g is not None for g in grads) / len(grads) > 0.9, m.name
