"""Study 2 configuration: the feature streams, the detector, and the one map from notebook parameters to them.

Chapters 04 (streams), 20 (main comparison, MMA-52 baseline), 21 (Table 2 ablations) and 22 (difficulty sweeps)
call :func:`config` with their resolved parameters; the runner calls it too, before any notebook runs, so a bad
value stops the book in one line.

β, the window (paper 000: "window size (β) set to 128 frames"). Two readings:
  1. PointTAD's ``window_size``, counted in tokens (one token per 4 decoded frames): 128 tokens = 512 frames at
     10 fps = 51.2 s;
  2. decoded frames at 10 fps, as the paper writes: 128 frames = 32 tokens = 12.8 s.
We use reading 2 everywhere (chapters 20, 21, 22 and the gpu profile): it is the paper's own unit, and the paper
justifies β by the gestures' lengths ("to accommodate most action categories"), which only reading 2 makes
informative: its Table 2b grid then runs from 16 frames (1.6 s, about one median SMG gesture) to 200 frames
(20 s, about the longest real gesture, 554 frames at 30 fps), whereas under reading 1 every tested window
(6.4-80 s) already holds nearly every gesture. Parameters give β in frames (``window``); configs hold tokens.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from mglib.errors import InputError
from mglib.train.config import OptimConfig, _choice

INTERVAL = 4  # decoded frames per token: I3D's temporal stride; the skeleton stream pools as many frames
DECODE_FPS = 10.0  # paper 000: frames decoded at 10 fps
MIXERS = {"mhsa": "PointTAD", "mamba_mhsa": "PointTAD + Mamba-MHSA"}
STREAMS = ("skeleton", "rgb")
ABLATION_FIELDS = {"num_points": "$N_s$", "window": "β (frames)", "num_layers": "$L$", "num_mamba": "$M$"}
SWEEP_KNOBS = ("amplitude", "duration", "gap")  # generator knobs of mglib.data.synthetic.Knobs


@dataclass
class SkeletonStreamConfig:
    """The causal skeleton stream: normalised Kinect joints and velocities through a dilated causal TCN,
    pretrained as a clip classifier on gesture and background clips of the training subjects."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        epochs=8, batch_size=32, lr=3e-3, weight_decay=1e-2, schedule="cosine", grad_clip=1.0))
    stream: str = _choice("skeleton", "skeleton")
    data_root: str = ""  # SMG root; "" = the synthetic data of ``profile``
    profile: str = "cpu"
    data_digest: str = ""  # fingerprint of the label files, filled in at run time: new data, new checkpoint
    decode_fps: float = DECODE_FPS
    width: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    kernel: int = 3
    dropout: float = 0.1
    context: int = 31  # decoded frames of history fed before a training clip (the receptive field)
    background_every: int = 15  # decoded frames between the starts of background clips
    balance: bool = True  # class-weighted loss (1 / sqrt(frequency)) against the majority class
    threads: int = 1


@dataclass
class RGBStreamConfig:
    """The RGB stream: an I3D-structured encoder (tiny on CPU, pretrained here on gesture clips; full width with
    local Kinetics weights on gpu), run frozen to cache snippet features."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        epochs=6, batch_size=16, lr=3e-3, weight_decay=1e-4, schedule="cosine", grad_clip=1.0))
    stream: str = _choice("rgb", "rgb")
    data_root: str = ""
    profile: str = "cpu"
    data_digest: str = ""
    width: float = 0.125  # 1.0 = I3D
    frame_size: int = 64  # square crop side (PointTAD: 192)
    clip_len: int = 16  # frames per pretraining clip, at decode_fps
    decode_fps: float = DECODE_FPS
    weights: str = ""  # local InceptionI3d state dict (width 1.0)
    num_classes: int = 17
    input: str = _choice("rgb", "rgb", "rest")  # "rest": minus the sequence's median frame (not causal)
    background: bool = False  # an extra class: clips between gestures
    repeats: int = 1  # training clips per gesture per epoch, each centred at a random instant of the gesture
    balance: bool = False
    dropout: float = 0.5
    threads: int = 0  # torch CPU threads while training / extracting; 0 = leave as set
    crop: bool = False  # crop each sequence to its motion box (from the whole sequence: not causal), then resize


# Stream settings per profile, shared by chapters 04, 20, 21 and 22 (one place, one checkpoint and feature cache).
# One torch thread on CPU: with tiny kernels on shared cores, OpenMP threads waiting for each other were slower.
# RGB on CPU: from scratch on the 64-px renders, RGB input stayed at chance; the rest-pose difference, a background
# class, random clip centres, a class-weighted loss and the motion crop make it learn something (chapter 04).
_RGB_CPU = dict(width=0.125, clip_len=8, batch_size=16, lr=3e-3, weight_decay=1e-2, input="rest", background=True,
                balance=True, dropout=0.2, threads=1)
STREAM_PROFILES = {
    "skeleton": {"smoke": dict(epochs=2, width=32), "cpu": dict(epochs=6, width=64), "gpu": dict(epochs=30, width=128)},
    "rgb": {
        "smoke": _RGB_CPU | dict(frame_size=32, epochs=1, repeats=1, crop=False),
        "cpu": _RGB_CPU | dict(frame_size=64, epochs=3, repeats=1, crop=True),
        "gpu": dict(width=1.0, frame_size=192, clip_len=32, epochs=0, batch_size=8, lr=1e-4, weight_decay=1e-4,
                    input="rgb", background=False, balance=False, dropout=0.5, threads=0, repeats=1, crop=False),
    },
}
_OPTIM_KEYS = ("epochs", "batch_size", "lr", "weight_decay")


def stream_config(stream: str, profile: str, data_root: str = "", weights: str = "", seed: int = 0):
    """The ``stream`` encoder of ``profile`` (``STREAM_PROFILES``). RGB without a weights file is pretrained here."""
    if stream not in STREAMS:
        raise _fail("stream", f"one of {list(STREAMS)}", stream)
    p = STREAM_PROFILES[stream][profile]
    if stream == "skeleton":
        base = SkeletonStreamConfig()
        optim = replace(base.optim, seed=seed, **{k: p[k] for k in _OPTIM_KEYS if k in p})
        return replace(base, optim=optim, data_root=data_root, profile=profile,
                       **{k: v for k, v in p.items() if k not in _OPTIM_KEYS})
    base = RGBStreamConfig()
    epochs = p["epochs"] if (weights or p["epochs"] > 0) else 20  # gpu without a weights file: pretrain here
    optim = replace(base.optim, seed=seed, epochs=epochs, **{k: p[k] for k in _OPTIM_KEYS[1:]})
    return replace(base, optim=optim, data_root=data_root, profile=profile, weights=weights,
                   **{k: v for k, v in p.items() if k not in _OPTIM_KEYS})


@dataclass
class OnlineConfig:
    """One PointTAD run: the stream that feeds it, the windows, the decoder and the optimiser.

    The decoder fields repeat ``mglib.models.pointtad.PointTADConfig``'s defaults rather than import them, so that
    building a config (the runner validates every notebook's parameters) never imports torch; a test keeps the two
    equal."""
    # paper 000: batch 1, lr 1e-4 halved every 10 epochs, 50 epochs; PointTAD: AdamW, wd 1e-4, grad-clip 0.1
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        epochs=50, batch_size=1, lr=1e-4, weight_decay=1e-4, schedule="step", milestones=(10, 20, 30, 40),
        gamma=0.5, grad_clip=0.1, nonfinite="skip"))
    encoder: SkeletonStreamConfig | RGBStreamConfig = field(default_factory=SkeletonStreamConfig)
    dataset: str = _choice("smg", "smg", "mma52")
    profile: str = "cpu"
    data_root: str = ""  # "" = the synthetic data of ``profile``
    data_digest: str = ""  # fingerprint of the dataset's label files, filled in at run time
    decode_fps: float = DECODE_FPS  # SMG: 10 (paper); MMA-52 baseline: 25
    interval: int = INTERVAL  # decoded frames per token
    window: int = 32  # β in tokens: 128 decoded frames (reading 2, see the module docstring)
    overlap: float = 0.75
    hidden: int = 512
    num_queries: int = 48
    num_points: int = 30
    num_layers: int = 4
    n_heads: int = 8
    ffn: int = 2048
    mix_dim: int = 64
    dense_hidden: int = 256  # PointTAD's dense head: hidden -> 256 -> C
    dropout: float = 0.1
    query_mixer: str = _choice("mamba_mhsa", "mhsa", "mamba_mhsa")
    num_mamba: int = 2
    point_init: str = _choice("center", "center", "spread", "tiled")
    w_dense: float = 10.0
    eos_coef: float = 0.1
    # same-class NMS of the F1 prediction list (architectures.md §8.1 #8 suggests tIoU 0.5). SMG gestures almost never
    # overlap (40 of 3,054 real pairs), so same-class detections overlapping by more than the F1's own overlap
    # threshold (0.3) are duplicates of one gesture: 0.3
    nms_iou: float = 0.3


@dataclass
class StudyConfig:
    """Everything the study's chapters need, built once from a notebook's parameters by :func:`config`."""
    profile: str
    data_root: str
    stream: str  # the stream the detectors read
    streams: dict  # {"skeleton": SkeletonStreamConfig, "rgb": RGBStreamConfig}: the rows of chapter 04
    detector: OnlineConfig  # base settings; the query mixer and seed are set per run
    seeds: tuple = (0,)
    ablations: dict = field(default_factory=dict)  # OnlineConfig field -> values (window in tokens)
    sweeps: dict = field(default_factory=dict)  # generator knob -> levels
    mma52: OnlineConfig | None = None


# ------------------------------------------------------------------------------------------------ parameters
_DETECTOR = ("window", "num_queries", "num_points", "num_layers", "num_mamba", "hidden", "n_heads", "ffn", "epochs",
             "lr", "lr_step", "batch_size", "point_init")
_MMA52_KEYS = {"lr": float, "weight_decay": float, "batch_size": int, "epochs": int, "lr_step": int,
               "num_queries": int, "num_points": int, "num_layers": int, "window": int, "interval": int,
               "decode_fps": float, "hidden": int, "n_heads": int, "ffn": int}
_LISTS = {"points_values": "num_points", "window_values": "window", "layers_values": "num_layers",
          "mamba_values": "num_mamba"}
KNOWN = {"profile", "seed", "seeds", "data_root", "encoder_weights", "stream", "streams", *_DETECTOR, "run_mma52",
         "mma52", "mma52_data_root", *_LISTS, "difficulty", "difficulty_values", "gap_values"}


def _fail(name: str, expected: str, value) -> InputError:
    return InputError(f"parameter {name!r}: expected {expected}, got {value!r}")


def _int(params: dict, name: str, lo: int = 1, hi: int = 10 ** 6) -> int:
    v = params[name]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _fail(name, f"an integer in [{lo}, {hi}]", v)
    return v


def _pos(params: dict, name: str) -> float:
    v = params[name]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
        raise _fail(name, "a positive number", v)
    return float(v)


def _ints(params: dict, name: str, lo: int = 0, hi: int = 10 ** 6, multiple: int = 1) -> tuple:
    v = params[name]
    if not isinstance(v, (list, tuple)) or not v:
        raise _fail(name, "a non-empty list of integers", v)
    for i, x in enumerate(v):
        if isinstance(x, bool) or not isinstance(x, int) or not lo <= x <= hi or x % multiple:
            what = f"an integer in [{lo}, {hi}]" + (f", a multiple of {multiple}" if multiple > 1 else "")
            raise InputError(f"parameter {name!r}: item {i} is {x!r}; expected {what}")
    return tuple(v)


def _window_tokens(name: str, frames: int) -> int:
    if frames % INTERVAL or frames < 2 * INTERVAL:
        raise _fail(name, f"β in decoded frames, a multiple of {INTERVAL} and at least {2 * INTERVAL}", frames)
    return frames // INTERVAL


def _detector(params: dict, profile: str, data_root: str, encoder) -> OnlineConfig:
    for name in ("num_queries", "num_points", "num_layers", "hidden", "n_heads", "ffn", "epochs", "lr_step",
                 "batch_size"):
        _int(params, name)
    _int(params, "num_mamba", 0, 16)
    hidden, heads = params["hidden"], params["n_heads"]
    if hidden % heads:
        raise _fail("n_heads", f"a divisor of hidden ({hidden})", heads)
    if params["point_init"] not in ("center", "spread", "tiled"):
        raise _fail("point_init", "'center', 'spread' or 'tiled'", params["point_init"])
    if params["num_points"] < 2:
        raise _fail("num_points", "at least 2", params["num_points"])
    epochs, step = params["epochs"], params["lr_step"]
    base = OnlineConfig()
    optim = replace(base.optim, epochs=epochs, lr=_pos(params, "lr"), batch_size=params["batch_size"],
                    milestones=tuple(range(step, epochs, step)))
    return replace(base, optim=optim, encoder=encoder, profile=profile, data_root=data_root,
                   window=_window_tokens("window", _int(params, "window")), num_queries=params["num_queries"],
                   num_points=params["num_points"], num_layers=params["num_layers"], num_mamba=params["num_mamba"],
                   hidden=hidden, n_heads=heads, ffn=params["ffn"], mix_dim=max(4, hidden // 8),
                   dense_hidden=max(4, hidden // 2), point_init=params["point_init"])


def _mma52(params: dict, profile: str, encoder) -> OnlineConfig:
    """The official MAC-2024 PointTAD baseline on MMA-52 from the ``mma52`` dict parameter."""
    d = params["mma52"]
    if not isinstance(d, dict):
        raise _fail("mma52", "a dict of settings", d)
    for k, v in d.items():
        if k not in _MMA52_KEYS:
            raise InputError(f"parameter 'mma52': unknown key {k!r} (known: {', '.join(_MMA52_KEYS)})")
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        if not ok or (_MMA52_KEYS[k] is int and not isinstance(v, int)):
            raise InputError(f"parameter 'mma52': key {k!r} is {v!r}; expected a positive "
                             f"{_MMA52_KEYS[k].__name__}")
    missing = [k for k in _MMA52_KEYS if k not in d]
    if missing:
        raise InputError(f"parameter 'mma52': missing key(s) {missing}")
    if d["hidden"] % d["n_heads"]:
        raise InputError(f"parameter 'mma52': n_heads {d['n_heads']} must divide hidden {d['hidden']}")
    base = OnlineConfig()
    optim = replace(base.optim, epochs=d["epochs"], lr=float(d["lr"]), weight_decay=float(d["weight_decay"]),
                    batch_size=d["batch_size"], milestones=tuple(range(d["lr_step"], d["epochs"], d["lr_step"])))
    return replace(base, optim=optim, encoder=encoder, dataset="mma52", profile=profile,
                   data_root=params.get("mma52_data_root", ""), decode_fps=float(d["decode_fps"]),
                   interval=d["interval"], window=d["window"], num_queries=d["num_queries"],
                   num_points=d["num_points"], num_layers=d["num_layers"], hidden=d["hidden"], n_heads=d["n_heads"],
                   ffn=d["ffn"], mix_dim=max(4, d["hidden"] // 8), dense_hidden=max(4, d["hidden"] // 2),
                   query_mixer="mhsa", point_init="center")


def config(params: dict) -> StudyConfig:
    """The study's config from the resolved parameters of chapter 04, 20, 21 or 22. Cheap (no data, no model);
    refuses an unknown name, a bad list item, a bad key of ``mma52`` or an out-of-range value in one line."""
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        raise InputError(f"parameter {unknown[0]!r}: not a parameter of the online study (known: "
                         f"{', '.join(sorted(KNOWN))})")
    profile = params.get("profile", "smoke")
    if profile not in ("smoke", "cpu", "gpu"):
        raise _fail("profile", "smoke, cpu or gpu", profile)
    data_root = params.get("data_root", "")
    weights = params.get("encoder_weights", "")
    seed = _int(params, "seed", 0) if "seed" in params else 0
    stream = params.get("stream", "skeleton")
    if stream not in STREAMS:
        raise _fail("stream", f"one of {list(STREAMS)}", stream)
    names = list(params.get("streams", []))
    for i, s in enumerate(names):
        if s not in STREAMS:
            raise InputError(f"parameter 'streams': item {i} is {s!r}; expected one of {list(STREAMS)}")
    streams = {s: stream_config(s, profile, data_root, weights, seed) for s in dict.fromkeys(names + [stream])}
    cfg = StudyConfig(profile, data_root, stream, streams, OnlineConfig(encoder=streams[stream], profile=profile,
                                                                       data_root=data_root))
    if "seeds" in params:
        cfg.seeds = _ints(params, "seeds", 0, 10 ** 6)
        if len(set(cfg.seeds)) != len(cfg.seeds):
            raise _fail("seeds", "distinct seeds", params["seeds"])
    if "window" in params:
        cfg.detector = _detector(params, profile, data_root, streams[stream])
    for name, fld in _LISTS.items():
        if name in params:
            vals = _ints(params, name, 1 if fld != "window" else 2 * INTERVAL, 10 ** 4,
                         multiple=INTERVAL if fld == "window" else 1)
            cfg.ablations[fld] = tuple(v // INTERVAL for v in vals) if fld == "window" else vals
    if "difficulty" in params:
        knob = params["difficulty"]
        if knob not in ("amplitude", "duration"):
            raise _fail("difficulty", "'amplitude' or 'duration' (a generator knob)", knob)
        for name, k in (("difficulty_values", knob), ("gap_values", "gap")):
            v = params[name]
            if not isinstance(v, (list, tuple)) or len(v) < 1:
                raise _fail(name, "a non-empty list of positive numbers", v)
            for i, x in enumerate(v):
                if isinstance(x, bool) or not isinstance(x, (int, float)) or not (math.isfinite(x) and x > 0):
                    raise InputError(f"parameter {name!r}: item {i} is {x!r}; expected a positive number")
            cfg.sweeps[k] = tuple(float(x) for x in v)
    if params.get("run_mma52"):
        cfg.mma52 = _mma52(params, profile, stream_config("rgb", profile, "", weights, seed))
    return cfg
