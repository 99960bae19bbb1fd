"""Joint-layout helpers shared by the heatmap pipeline and the graph models.

Left/right joint pairs come from the dataset modules (``mglib.data.imigue.FLIP_PAIRS_22``), built from names.
"""
from __future__ import annotations


def pairs_to_permutation(num_joints: int, pairs) -> list[int]:
    """Joint permutation of a horizontal flip from (left, right) pairs; unpaired joints keep their index."""
    perm = list(range(num_joints))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


def limb_flip_index(limbs, joint_flip) -> list[int]:
    """Permutation of limb channels induced by a joint flip; a limb whose mirror is missing keeps its place."""
    pos = {frozenset(l): i for i, l in enumerate(map(tuple, limbs))}
    return [pos.get(frozenset((joint_flip[a], joint_flip[b])), i) for i, (a, b) in enumerate(limbs)]
