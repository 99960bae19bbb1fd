"""The real-data chapter's settings: one map from the notebook's parameters (notebooks/05_mma52_real) to them."""
from __future__ import annotations

from dataclasses import dataclass, field

from mglib.errors import InputError
from mglib.studies.real.blind import GRIDS, Search


@dataclass(frozen=True)
class RealConfig:
    profile: str = "smoke"
    search: Search = field(default_factory=Search)  # the template detector's cross-validated grid
    top_pairs: int = 10  # co-occurring action pairs listed


def config(params: dict) -> RealConfig:
    """``params``: the notebook's parameters (profile, cv_seed, folds, templates, bins, coords, top_pairs)."""
    def positive_ints(name):
        v = params[name]
        if not isinstance(v, (list, tuple)) or not v or not all(isinstance(x, int) and x > 0 for x in v):
            raise InputError(f"parameter {name!r}: expected a non-empty list of positive integers, got {v!r}")
        return tuple(v)

    coords = tuple(params["coords"])
    if not coords or set(coords) - set(GRIDS):
        raise InputError(f"parameter 'coords': expected a non-empty list of {sorted(GRIDS)}, got {params['coords']!r}")
    if params["folds"] < 2:
        raise InputError(f"parameter 'folds': expected at least 2 cross-validation folds, got {params['folds']}")
    search = Search(coords=coords, bins=positive_ints("bins"), templates=positive_ints("templates"),
                    folds=params["folds"], seed=params["cv_seed"])
    return RealConfig(profile=params["profile"], search=search, top_pairs=params["top_pairs"])
