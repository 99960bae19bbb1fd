"""torchvision video models as RGB baselines (swin3d_t for Video Swin-T, r2plus1d_18, ...), imported lazily.

torchvision is an optional [gpu] extra: on a machine without it, :func:`available` says why and the study skips
these rows with that reason. Weights are never downloaded here (no network): models start from scratch unless a
local state dict is given.
"""
from __future__ import annotations

# name -> (builder name in torchvision.models.video, attribute of the classifier to replace)
MODELS = {"swin3d_t": ("swin3d_t", "head"), "swin3d_s": ("swin3d_s", "head"), "swin3d_b": ("swin3d_b", "head"),
          "r2plus1d_18": ("r2plus1d_18", "fc"), "r3d_18": ("r3d_18", "fc"), "mc3_18": ("mc3_18", "fc")}


def available() -> tuple[bool, str]:
    """(True, "") when torchvision's video models import, else (False, the reason)."""
    try:
        import torchvision.models.video  # noqa: F401
    except Exception as e:  # ImportError, or a torch/torchvision version mismatch raising at import
        return False, f"torchvision is not importable ({type(e).__name__}: {e})"
    return True, ""


def build(name: str, num_classes: int, state_dict_path: str | None = None):
    """A torchvision video model (input (B, 3, T, H, W)) with a fresh ``num_classes`` classifier."""
    if name not in MODELS:
        raise ValueError(f"unknown torchvision video model {name!r} (known: {', '.join(MODELS)})")
    ok, why = available()
    if not ok:
        raise RuntimeError(why)
    import torch
    import torch.nn as nn
    import torchvision.models.video as tvv

    builder, attr = MODELS[name]
    model = getattr(tvv, builder)(weights=None)
    if state_dict_path:
        model.load_state_dict(torch.load(state_dict_path, map_location="cpu"))
    old = getattr(model, attr)
    setattr(model, attr, nn.Linear(old.in_features, num_classes))
    return model
