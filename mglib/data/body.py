"""Kinematic body model and parametric gesture primitives for the synthetic stand-ins.

One seated 3-D body per subject (proportions, handedness, tempo, idle sway, tremor), animated by gesture events and
observed through each dataset's sensor (sensors.py, render.py). Coordinates are metres in a body frame with the
pelvis at the origin: x to the image right (the subject's left), y up, z away from the camera (forward is -z).
Gestures are grouped by body part like the real taxonomies; contact gestures put a hand on a named body site, and
classes that differ only in the site (neck vs shoulder, eyes vs forehead) are the deliberately ambiguous pairs.

Events may overlap in time, also on one body part (real MMA-52 timelines do): the events on a part share it. At
each frame the part is engaged as much as its most engaged event (the largest envelope), and that engagement is split
among its events in proportion to their envelopes. Overlapping motions are thus mixed, never added beyond one
event's range, and the mixture does not depend on the listing order; events that do not overlap animate exactly as
each would alone. Chapter: notebooks/01_datasets.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RIGHT, LEFT = 0, 1
SIGN = (-1.0, 1.0)  # x sign of the subject's right / left side


@dataclass
class Subject:
    sid: int
    scale: float = 1.0  # overall size
    shoulder: float = 1.0  # shoulder width factor
    arm: float = 1.0  # arm length factor
    head: float = 1.0  # head size factor
    dominant: int = RIGHT
    tempo: float = 1.0  # >1: faster oscillations, shorter gestures
    sway: float = 0.02  # idle sway amplitude (rad)
    sway_freq: float = 0.2
    tremor: float = 0.003  # hand tremor amplitude (m)
    slouch: float = 0.1  # rest forward lean (rad)
    glasses: bool = False
    colors: dict = field(default_factory=dict)  # shirt, pants, skin, hair, bg0, bg1 (RGB uint8 triples)


def make_subject(sid: int, rng: np.random.Generator) -> Subject:
    def col(lo, hi):
        return tuple(int(v) for v in rng.integers(lo, hi, size=3))
    skin_base = rng.uniform(0.35, 1.0)
    skin = tuple(int(v) for v in np.array([235, 190, 160]) * skin_base)
    return Subject(
        sid=sid, scale=float(rng.normal(1.0, 0.05)), shoulder=float(rng.normal(1.0, 0.06)),
        arm=float(rng.normal(1.0, 0.04)), head=float(rng.normal(1.0, 0.05)),
        dominant=int(rng.random() < 0.15),  # ~15 % left-handed
        tempo=float(rng.uniform(0.8, 1.25)), sway=float(rng.uniform(0.01, 0.035)),
        sway_freq=float(rng.uniform(0.1, 0.3)), tremor=float(rng.uniform(0.001, 0.005)),
        slouch=float(rng.uniform(0.0, 0.2)), glasses=bool(rng.random() < 0.15),
        colors={"shirt": col(20, 230), "pants": col(10, 120), "skin": skin, "hair": col(10, 90),
                "bg0": col(60, 200), "bg1": col(60, 200)},
    )


# ---------------------------------------------------------------------------------------------- primitives
@dataclass(frozen=True)
class Primitive:
    """One class's motion. ``part`` picks the animation channel; the rest parameterise it.

    part: 'head' | 'torso' | 'legs' | 'hand' (one hand, contact or free motion) | 'hands' (both hands)
    kind: the motion family within the part (see ``_HEAD``, ``_TORSO``, ``_LEGS``, ``_HANDS`` below)
    site: body site a hand goes to ('contact' kinds); cross: the site on the other side of the body
    motion: 'hold' | 'scratch' | 'rub' | 'pat' | 'brush' | 'twirl' | 'fidget' applied at the site
    prop: RGB-only cue drawn by the renderer: 'object' (in the hand), 'hat', 'glasses'
    """
    part: str
    kind: str
    site: str = ""
    motion: str = "hold"
    cross: bool = False
    prop: str = ""
    base_s: float = 2.0  # typical duration (s)


def P(part, kind, site="", motion="hold", cross=False, prop="", base_s=2.0) -> Primitive:
    return Primitive(part, kind, site, motion, cross, prop, base_s)


def channels(p: Primitive) -> tuple[str, ...]:
    """Animation channels an instance occupies (the parametric generators overlap instances only on disjoint ones)."""
    return ("hand",) if p.part in ("hand", "hands") else (p.part,)


def _slots(ev: "Event") -> list[tuple]:
    """The body parts an event moves: its part, or the acting hand(s) (one slot per side)."""
    if ev.prim.part == "hand":
        return [("hand", ev.side)]
    if ev.prim.part == "hands":
        return [("hand", RIGHT), ("hand", LEFT)]
    return [(ev.prim.part,)]


@dataclass
class Event:
    prim: Primitive
    start: int  # first frame
    end: int  # last frame (inclusive)
    side: int = RIGHT  # acting hand / leg / direction
    amp: float = 1.0
    freq: float = 1.0  # oscillation rate multiplier
    phase: float = 0.0
    jitter: tuple = (0.0, 0.0, 0.0)  # site offset (m): where exactly on the site the hand lands


def envelope(n: int, ev: Event, ramp_s: float, fps: float) -> np.ndarray:
    """Smooth 0 -> 1 -> 0 over [start, end] with ramps of ``ramp_s`` (at most a third of the event)."""
    f = np.arange(n, dtype=np.float64)
    dur = max(ev.end - ev.start, 1)
    ramp = max(1.0, min(ramp_s * fps, dur / 3))
    a = np.clip((f - ev.start) / ramp, 0, 1)
    b = np.clip((ev.end - f) / ramp, 0, 1)
    s = lambda x: x * x * (3 - 2 * x)  # noqa: E731  smoothstep
    return s(a) * s(b)


def _rot(pitch, yaw, roll) -> np.ndarray:
    """(n, 3, 3) rotations. pitch > 0 leans/looks forward-down, yaw > 0 turns toward +x, roll > 0 tilts to +x."""
    n = len(pitch)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cr, sr = np.cos(roll), np.sin(roll)
    one, zero = np.ones(n), np.zeros(n)
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cp, sp], -1),
                   np.stack([zero, -sp, cp], -1)], 1)  # (0,1,0) -> (0, cp, -sp): forward
    ry = np.stack([np.stack([cy, zero, -sy], -1), np.stack([zero, one, zero], -1),
                   np.stack([sy, zero, cy], -1)], 1)  # (0,0,-1) -> (sy, 0, -cy): toward +x
    rz = np.stack([np.stack([cr, sr, zero], -1), np.stack([-sr, cr, zero], -1),
                   np.stack([zero, zero, one], -1)], 1)  # (0,1,0) -> (sr, cr, 0): tilt to +x
    return ry @ rx @ rz


def _apply(R, p, origin) -> np.ndarray:
    """Rotate body-local points ``p`` ((3,) or (n, 3)) by R (n, 3, 3) and add origin (n, 3)."""
    p = np.broadcast_to(p, origin.shape)
    return np.einsum("nij,nj->ni", R, p) + origin


def _smooth_noise(rng, n, fps, cutoff_hz, dims=3) -> np.ndarray:
    """Unit-variance low-pass noise (n, dims): random-phase sum of sinusoids below ``cutoff_hz``."""
    t = np.arange(n) / fps
    freqs = rng.uniform(0.02, cutoff_hz, size=(6, dims))
    phases = rng.uniform(0, 2 * np.pi, size=(6, dims))
    return np.sin(2 * np.pi * t[:, None, None] * freqs[None] + phases[None]).sum(1) / np.sqrt(3)


def _ik(root, target, l1, l2, pole) -> tuple[np.ndarray, np.ndarray]:
    """Two-bone IK: (middle joint, reached end) for chains root -> target with lengths l1, l2; pole (n,3) bends."""
    d = target - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    u = d / np.maximum(dist, 1e-6)
    reach = np.clip(dist, abs(l1 - l2) + 1e-3, l1 + l2 - 1e-3)
    end = root + u * reach
    cos_a = np.clip((l1 ** 2 + reach ** 2 - l2 ** 2) / (2 * l1 * reach), -1, 1)
    v = pole - (pole * u).sum(-1, keepdims=True) * u
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-6)
    mid = root + l1 * (cos_a * u + np.sqrt(1 - cos_a ** 2) * v)
    return mid, end


# Head-frame sites, relative to the neck joint (x uses the side sign where lateral)
_HEAD_SITES = {
    "top": (0, .25, 0, 0), "hat": (0, .27, -.02, 0), "forehead": (0, .20, -.10, 0), "eye": (.035, .155, -.10, 1),
    "glasses": (0, .155, -.11, 0), "nose": (0, .125, -.12, 0), "mouth": (0, .085, -.105, 0),
    "jaw": (.055, .06, -.08, 1), "chin": (0, .045, -.09, 0), "cheek": (.06, .11, -.085, 1), "ear": (.095, .13, 0, 1),
    "hair": (.085, .2, .03, 1), "hindbrain": (0, .17, .10, 0), "face": (.03, .13, -.11, 1),
}
# Torso-frame sites, relative to the spine base
_TORSO_SITES = {
    "neck": (.045, .53, -.06, 1), "notch": (0, .47, -.09, 0), "collar": (.06, .48, -.09, 1),
    "chest": (.07, .36, -.13, 1), "shoulder": (.17, .48, -.04, 1), "upper_arm": (.25, .33, -.04, 1),
    "elbow": (.24, .18, -.08, 1), "back": (.08, .40, .16, 1), "back_low": (.10, .10, .16, 1),
    "hip": (.19, .08, -.02, 1), "belly": (0, .20, -.24, 0), "front": (0, .30, -.32, 0),
    "far_front": (0, .34, -.62, 0), "side_out": (.42, .18, -.30, 1), "wave": (.30, .62, -.22, 1),
}
_LEG_SITES = ("thigh", "knee", "ankle")


def animate(subj: Subject, n: int, fps: float, events: list[Event], rng: np.random.Generator,
            seated_rest: str = "lap") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Joint trajectories {name: (n, 3)} in the body frame and RGB props {name: (n,) float 0..1}."""
    s = subj.scale
    t = np.arange(n) / fps
    # --- controls ------------------------------------------------------------------------------------
    torso = np.zeros((n, 3))  # pitch, yaw, roll
    torso[:, 0] = subj.slouch + subj.sway * 0.6 * np.sin(2 * np.pi * subj.sway_freq * t + subj.sid)
    torso[:, 2] = subj.sway * np.sin(2 * np.pi * subj.sway_freq * 0.7 * t + 2.0 * subj.sid)
    root = np.zeros((n, 3))
    shrug = np.zeros((n, 2))
    shrug += 0.004 * np.sin(2 * np.pi * 0.25 * t)[:, None]  # breathing
    neck_drop = np.zeros(n)
    head = 0.05 * _smooth_noise(rng, n, fps, 0.3)  # idle gaze drift: pitch, yaw, roll
    ankles_off = np.zeros((n, 2, 3))
    heel = np.zeros((n, 2))
    knee_pole = np.zeros((n, 2, 3))
    curl = np.full((n, 2), 0.3)
    props = {"object": np.zeros(n), "hat": np.zeros(n), "glasses": np.full(n, float(subj.glasses))}
    hand_layers: list[tuple[Event, np.ndarray]] = []
    osc = lambda ev, f0: 2 * np.pi * f0 * ev.freq * subj.tempo * (t - ev.start / fps) + ev.phase  # noqa: E731

    raw = [envelope(n, ev, 0.3, fps) for ev in events]
    total: dict[tuple, np.ndarray] = {}  # body part (a hand per side) -> sum of its events' envelopes
    peak: dict[tuple, np.ndarray] = {}  # body part -> largest envelope of its events
    for ev, env in zip(events, raw):
        for slot in _slots(ev):
            total[slot] = total[slot] + env if slot in total else env
            peak[slot] = np.maximum(peak[slot], env) if slot in peak else env

    def share(env, slot):  # an event's weight on a part: the part's peak, split in proportion to the envelopes
        return np.divide(env, total[slot], out=np.zeros(n), where=total[slot] > 0) * peak[slot]

    for ev, full in zip(events, raw):
        p, a, sg = ev.prim, ev.amp, SIGN[ev.side]
        env = share(full, _slots(ev)[0])
        if p.prop in ("hat", "glasses"):
            props[p.prop] = np.maximum(props[p.prop], np.clip(envelope(n, ev, 0.05, fps) * 50, 0, 1))
        if p.part == "head":
            k = p.kind
            if k == "nod":
                head[:, 0] += env * a * 0.22 * (0.5 - 0.5 * np.cos(osc(ev, 1.8)))
            elif k == "shake":
                head[:, 1] += env * a * 0.28 * np.sin(osc(ev, 2.2))
            elif k == "turn":
                head[:, 1] += env * a * 0.6 * sg
            elif k == "tilt":
                head[:, 2] += env * a * 0.32 * sg
            elif k == "bow":
                head[:, 0] += env * a * 0.45
            elif k == "up":
                head[:, 0] -= env * a * 0.38
            elif k == "turtle":
                neck_drop += env * a * 0.06
                shrug += (env * a * 0.05)[:, None]
                head[:, 0] -= env * a * 0.08
            elif k == "lips":  # pressing lips: a tiny chin tuck, nearly invisible to pose
                head[:, 0] += env * a * 0.07 * (0.5 - 0.5 * np.cos(osc(ev, 1.0)))
            elif k == "breath":  # bulging face, deep breath
                shrug += (env * a * 0.035 * (0.5 - 0.5 * np.cos(osc(ev, 0.5))))[:, None]
                head[:, 0] -= env * a * 0.12
            else:
                raise ValueError(k)
        elif p.part == "torso":
            k = p.kind
            if k == "shrug":
                shrug += (env * a * 0.07 * (0.5 - 0.5 * np.cos(osc(ev, 1.2))))[:, None]
            elif k == "shake_shoulders":
                w = env * a * 0.045 * np.sin(osc(ev, 2.8))
                shrug[:, 0] += w
                shrug[:, 1] -= w
            elif k == "shift":
                root[:, 0] += env * a * 0.09 * sg
                torso[:, 2] += env * a * 0.12 * sg
            elif k == "shake":
                torso[:, 2] += env * a * 0.12 * np.sin(osc(ev, 1.8))
            elif k == "straight":
                torso[:, 0] -= env * a * (subj.slouch + 0.12)
                root[:, 1] += env * a * 0.03
            elif k == "rise":
                root[:, 1] += env * a * 0.16
                root[:, 2] -= env * a * 0.10
                torso[:, 0] += env * a * 0.35
            elif k == "turn":
                torso[:, 1] += env * a * 0.8 * sg
            else:
                raise ValueError(k)
        elif p.part == "legs":
            k = p.kind
            act, other = ev.side, 1 - ev.side
            if k == "cross":
                ankles_off[:, act] += env[:, None] * a * np.array([-sg * 0.16, 0.40, -0.02])
                knee_pole[:, act] += env[:, None] * np.array([sg * 0.5, 0.8, -0.2])
            elif k == "shake":
                bounce = env * a * 0.045 * (0.5 - 0.5 * np.cos(osc(ev, 4.5)))
                ankles_off[:, act, 1] += bounce
                heel[:, act] += bounce
            elif k == "spread":
                for leg in (0, 1):
                    ankles_off[:, leg, 0] += env * a * 0.16 * SIGN[leg]
                    knee_pole[:, leg, 0] += env * 2.0 * SIGN[leg]
            elif k == "close":
                for leg in (0, 1):
                    ankles_off[:, leg, 0] -= env * a * 0.06 * SIGN[leg]
                    knee_pole[:, leg, 0] -= env * 1.0 * SIGN[leg]
            elif k == "curl":
                ankles_off[:, :, 2] += (env * a * 0.22)[:, None]
                ankles_off[:, :, 1] += (env * a * 0.08)[:, None]
            elif k == "stretch":
                ankles_off[:, :, 2] -= (env * a * 0.28)[:, None]
                ankles_off[:, :, 1] += (env * a * 0.20)[:, None]
            elif k == "retract":
                ankles_off[:, :, 2] += (env * a * 0.13)[:, None]
            elif k == "tiptoe":
                heel += (env * a * 0.07)[:, None]
            elif k == "move":  # SMG 'moving legs': alternate feet sliding back and forth
                w = env * a * 0.12 * np.sin(osc(ev, 0.9))
                ankles_off[:, act, 2] += w
                ankles_off[:, other, 2] -= w
            else:
                raise ValueError(k)
        elif p.part in ("hand", "hands"):
            hand_layers.append((ev, full))
            if p.site == "ankle":  # reaching the feet needs a forward lean
                torso[:, 0] += env * ev.amp * 0.55
            if p.prop == "object":
                props["object"] = np.maximum(props["object"], np.clip(full * 3, 0, 1))
        else:
            raise ValueError(p.part)

    # --- torso and head -----------------------------------------------------------------------------
    Rt = _rot(torso[:, 0], torso[:, 1], torso[:, 2])
    base = root.copy()
    J: dict[str, np.ndarray] = {"spine_base": base}
    sw = 0.18 * s * subj.shoulder
    J["spine_mid"] = _apply(Rt, np.array([0, .25 * s, 0]), base)
    J["spine_shoulder"] = _apply(Rt, np.array([0, .47 * s, 0]), base)
    neck_local = np.stack([np.zeros(n), .53 * s - neck_drop, np.zeros(n)], -1)
    J["neck"] = np.einsum("nij,nj->ni", Rt, neck_local) + base
    for side in (RIGHT, LEFT):
        sh = np.stack([np.full(n, SIGN[side] * sw), .465 * s + shrug[:, side], np.zeros(n)], -1)
        J[f"shoulder{side}"] = np.einsum("nij,nj->ni", Rt, sh) + base
        J[f"hip{side}"] = base + np.array([SIGN[side] * .10 * s, -.02, 0])
    Rh = Rt @ _rot(head[:, 0], head[:, 1], head[:, 2])
    hs = s * subj.head

    def head_site(name, side):
        x, y, z, lat = _HEAD_SITES[name]
        return _apply(Rh, np.array([x * (SIGN[side] if lat else 1), y, z]) * hs, J["neck"])

    def torso_site(name, side):
        x, y, z, lat = _TORSO_SITES[name]
        local = np.array([x * (SIGN[side] if lat else 1) * (subj.shoulder if lat else 1), y, z]) * s
        p = _apply(Rt, local, base)
        if name in ("shoulder", "neck", "collar"):
            p = p + np.stack([np.zeros(n), shrug[:, side] * (name == "shoulder"), np.zeros(n)], -1)
        return p

    J["head"] = _apply(Rh, np.array([0, .13 * hs, -.01]), J["neck"])
    J["nose"] = head_site("nose", 0)
    for side in (RIGHT, LEFT):
        J[f"eye{side}"] = head_site("eye", side) + _apply(Rh, np.array([0, 0, .02]), np.zeros((n, 3)))
        J[f"ear{side}"] = head_site("ear", side)
    for name in ("forehead", "mouth", "chin", "top", "hindbrain"):
        J[name] = head_site(name, 0)

    # --- legs (seated) ------------------------------------------------------------------------------
    thigh, shin = .44 * s, .45 * s
    for side in (RIGHT, LEFT):
        hip = J[f"hip{side}"]
        rest_ankle = hip * np.array([1, 0, 0]) + np.array([SIGN[side] * 0.03, -0.02 - shin, -thigh + 0.02])
        ankle_t = rest_ankle + ankles_off[:, side] + 0.01 * _smooth_noise(rng, n, fps, 0.3)
        pole = np.array([SIGN[side] * 0.2, 0.6, -1.0]) + knee_pole[:, side]
        knee, ankle = _ik(hip, ankle_t, thigh, shin, pole)
        J[f"knee{side}"], J[f"ankle{side}"] = knee, ankle
        heel_up = heel[:, side][:, None]
        J[f"heel{side}"] = ankle + np.array([0, -.05, .03]) * s + heel_up * np.array([0, 1, 0])
        toe = ankle + np.array([0, -.07, -.15]) * s
        J[f"toe{side}"] = toe
        J[f"small_toe{side}"] = toe + np.array([SIGN[side] * .04, .005, .03]) * s
        J[f"foot{side}"] = ankle + np.array([0, -.06, -.10]) * s

    def leg_site(name, side):
        if name == "thigh":
            return J[f"hip{side}"] + 0.6 * (J[f"knee{side}"] - J[f"hip{side}"]) + np.array([0, .08, -.02])
        if name == "knee":
            return J[f"knee{side}"] + np.array([0, .06, -.05])
        return J[f"ankle{side}"] + np.array([SIGN[side] * .05, .03, -.05])

    def site(name, side):
        if name in _HEAD_SITES:
            return head_site(name, side)
        if name in _TORSO_SITES:
            return torso_site(name, side)
        return leg_site(name, side)

    # --- hands ----------------------------------------------------------------------------------------
    upper, fore, hand_len = .29 * s * subj.arm, .26 * s * subj.arm, .08 * s
    targets, poles = [], []
    for side in (RIGHT, LEFT):
        rest = leg_site("thigh", side) + np.array([-SIGN[side] * 0.03, 0.02, -0.04]) + \
            0.025 * _smooth_noise(rng, n, fps, 0.25)
        targets.append(rest)
        poles.append(np.broadcast_to(np.array([SIGN[side] * 0.6, -1.0, 0.3]), (n, 3)).copy())
    # per side: the weighted sums of the hand events' targets, poles and curls, and their total weight
    mix = [{"target": np.zeros((n, 3)), "pole": np.zeros((n, 3)), "curl": np.zeros(n), "weight": np.zeros(n)}
           for _ in (RIGHT, LEFT)]
    for ev, full in hand_layers:
        p, a = ev.prim, ev.amp
        jit = np.asarray(ev.jitter)
        act = [ev.side] if p.part == "hand" else [RIGHT, LEFT]
        for side in act:
            env = share(full, ("hand", side))
            e = env[:, None]
            sg = SIGN[side]
            site_side = (1 - side) if p.cross else side
            pole = np.array([sg * 0.6, -1.0, -0.2])
            k = p.kind
            if k == "contact":
                tgt = site(p.site, site_side) + jit * np.array([sg, 1, 1])
                if p.site in ("back", "back_low", "hip", "elbow", "upper_arm"):
                    pole = np.array([sg * 1.0, -0.3, 0.5 if p.site.startswith("back") else 0.0])
            elif k == "fold":  # arms crossed over the chest, hands tucked at the other arm
                tgt = torso_site("upper_arm", 1 - side) + np.array([-SIGN[1 - side] * .06, -.05, -.08])
                tgt = tgt + np.array([0, .03 * (side == ev.side), -.03 * (side == ev.side)])
                pole = np.array([sg * 0.9, -1.0, -0.3])
            elif k == "hold_arms":  # one hand grabs the other forearm in front of the belly
                tgt = torso_site("belly", 0) + np.array([-sg * .12, -.02, .02])
            elif k == "together":
                tgt = torso_site("belly", 0) + np.array([sg * .035, 0, 0])
            elif k == "interlace":  # crossing fingers
                tgt = torso_site("belly", 0) + np.array([sg * .015, .02, 0])
            elif k == "minaret":
                tgt = torso_site("front", 0) + np.array([sg * .04, .02, 0])
                pole = np.array([sg * 1.0, -0.6, 0.1])
            elif k == "stretch":
                tgt = torso_site("far_front", 0) + np.array([sg * .18, 0, 0])
            elif k == "retract":
                tgt = torso_site("chest", side) + np.array([0, -.02, -.06])
            elif k == "wave":
                tgt = torso_site("wave", side)
            elif k == "spread":
                tgt = torso_site("side_out", side)
            elif k == "fist":
                tgt = torso_site("belly", 0) + np.array([sg * .12, .05, 0])
            elif k == "fingers":
                tgt = torso_site("belly", 0) + np.array([sg * .10, .03, 0])
            elif k == "illustrative":  # free talking gestures: broad smooth loops in front of the chest
                tgt = torso_site("front", 0) + np.array([sg * .15, -.02, .02]) + \
                    a * 0.11 * _smooth_noise(rng, n, fps, 1.2 * subj.tempo)
            else:
                raise ValueError(k)
            m = p.motion
            if m == "scratch":
                tgt = tgt + (a * 0.02 * np.sin(osc(ev, 4.0)))[:, None] * np.array([0, 1, 0])
            elif m == "rub":
                ph = osc(ev, 2.0) + (np.pi if side == LEFT else 0)
                tgt = tgt + a * 0.025 * np.stack([np.cos(ph), np.sin(ph), np.zeros(n)], -1)
            elif m == "pat":
                tgt = tgt + (a * 0.05 * (0.5 + 0.5 * np.cos(osc(ev, 2.5))))[:, None] * np.array([0, 1, -0.4])
            elif m == "brush":
                tgt = tgt + (a * 0.07 * np.sin(osc(ev, 3.0)))[:, None] * np.array([sg, -0.6, 0])
            elif m == "twirl":
                ph = osc(ev, 1.5)
                tgt = tgt + a * 0.02 * np.stack([np.zeros(n), np.sin(ph), np.cos(ph)], -1)
            elif m == "fidget":
                tgt = tgt + a * 0.012 * _smooth_noise(rng, n, fps, 1.5)
            elif m == "wave":
                tgt = tgt + (a * 0.08 * np.sin(osc(ev, 2.5)))[:, None] * np.array([1, 0, 0])
            if k == "contact" and p.site in _HEAD_SITES:
                pole = np.array([sg * 0.5, -1.0, -0.1])
            mix[side]["target"] += e * tgt
            mix[side]["pole"] += e * pole
            c = {"fist": 0.9 + 0.1 * np.sin(osc(ev, 1.5)), "fingers": 0.5 + 0.4 * np.sin(osc(ev, 3.0)),
                 "interlace": 0.6, "minaret": 0.0, "spread": 0.0, "wave": 0.0}.get(k, 0.2 if m == "hold" else 0.5)
            if p.site == "mouth" and m == "fidget":
                c = 0.8  # biting nails: fingers curled at the mouth
            mix[side]["curl"] += env * c
            mix[side]["weight"] += env
    for side in (RIGHT, LEFT):
        free = 1 - mix[side]["weight"]  # the rest pose's weight
        targets[side] = free[:, None] * targets[side] + mix[side]["target"]
        poles[side] = free[:, None] * poles[side] + mix[side]["pole"]
        curl[:, side] = free * curl[:, side] + mix[side]["curl"]

    for side in (RIGHT, LEFT):
        sh = J[f"shoulder{side}"]
        tgt = targets[side] + subj.tremor * rng.standard_normal((n, 3))
        # wrist sits behind the hand centre, toward a point below and in front of the shoulder
        anchor = sh + np.array([0, -0.30, -0.15]) * s
        d = anchor - tgt
        wrist_t = tgt + hand_len * 0.5 * d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6)
        elbow, wrist = _ik(sh, wrist_t, upper, fore, poles[side])
        fdir = wrist - elbow
        fdir /= np.maximum(np.linalg.norm(fdir, axis=-1, keepdims=True), 1e-6)
        hand = wrist + fdir * hand_len * 0.5
        J[f"elbow{side}"], J[f"wrist{side}"], J[f"hand{side}"] = elbow, wrist, hand
        # fingertips fan out around the forearm direction; curl pulls them back toward the palm
        ext = (1 - 0.75 * curl[:, side])[:, None] * 0.09 * s
        lateral = np.cross(fdir, np.array([0, 0, 1.0]))
        lateral /= np.maximum(np.linalg.norm(lateral, axis=-1, keepdims=True), 1e-6)
        tips = []
        for i, spread in enumerate((-0.9, -0.35, 0.0, 0.3, 0.6)):  # thumb .. pinky
            ln = 0.6 if i == 0 else (1.0 if i in (1, 2) else 0.85)
            tips.append(hand + ext * ln * fdir + SIGN[side] * spread * 0.035 * s * lateral)
        J[f"fingers{side}"] = np.stack(tips, 1)  # (n, 5, 3)
        J[f"hand_tip{side}"] = tips[2]
        J[f"thumb{side}"] = tips[0]
    return J, props
