"""Joint-layout helpers shared by the heatmap pipeline and the graph models: flips and limb channels."""
from __future__ import annotations

import re

_SIDES = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "L": "R", "R": "L"}


def _mirror(name: str) -> str:
    # swap a whole-word side marker ("HandLeft", "LeftFinger3", "left_eye", "RShoulder"): first match only
    for pat in (r"(Left|Right)", r"(left|right)", r"^(L|R)(?=[A-Z])"):
        m = re.search(pat, name)
        if m:
            return name[:m.start()] + _SIDES[m.group(1)] + name[m.end():]
    return name


def flip_index(names) -> list[int]:
    """Permutation that swaps every left joint with its right twin, found by name ("HandLeft" <-> "HandRight").

    A joint whose mirrored name is absent keeps its index (centre joints such as "Nose")."""
    pos = {n: i for i, n in enumerate(names)}
    return [pos.get(_mirror(n), i) for i, n in enumerate(names)]


def limb_flip_index(limbs, joint_flip) -> list[int]:
    """Permutation of limb channels induced by a joint flip; a limb whose mirror is missing keeps its place."""
    pos = {frozenset(l): i for i, l in enumerate(map(tuple, limbs))}
    return [pos.get(frozenset((joint_flip[a], joint_flip[b])), i) for i, (a, b) in enumerate(limbs)]
