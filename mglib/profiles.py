"""Profiles (smoke / cpu / gpu) and notebook parameter validation.

``profiles.yml`` at the project root declares, for every notebook, the parameter values of each profile. A
notebook's ``parameters`` cell holds the smoke defaults; it is the schema: names and types come from it.
Values are validated before any work, because papermill alone only warns about an unknown name.
"""
from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import yaml

from mglib import paths
from mglib.errors import InputError

PROFILES = ("smoke", "cpu", "gpu")


def load(path: Path | None = None) -> dict:
    path = Path(path or paths.PROFILES_FILE)
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    notebooks = doc.get("notebooks") or {}
    for nb, per_profile in notebooks.items():
        unknown = set(per_profile or {}) - set(PROFILES)
        if unknown:
            raise InputError(f"{paths.relative(path)}: notebook {nb!r} has unknown profile(s) {sorted(unknown)}; "
                             f"expected {list(PROFILES)}")
    return notebooks


def notebook_schema(nb_path: Path) -> dict[str, object]:
    """Names and default values of the ``parameters`` cell of a notebook (its smoke defaults)."""
    with open(nb_path) as f:
        nb = json.load(f)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"])
            schema = {}
            for node in ast.parse(src).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        schema[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        raise InputError(f"{paths.relative(nb_path)}: parameter {node.targets[0].id!r} "
                                         "must have a literal default") from None
            return schema
    raise InputError(f"{paths.relative(nb_path)}: no code cell tagged 'parameters'")


def _type_ok(default, value) -> bool:
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def _non_finite(value, path: str) -> str | None:
    """The path of the first NaN or infinite number inside ``value`` (nested lists and dicts), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, (list, tuple)):
        return next((p for i, v in enumerate(value) if (p := _non_finite(v, f"{path}[{i}]"))), None)
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := _non_finite(v, f"{path}.{k}"))), None)
    return None


def validate(notebook: str, schema: dict, values: dict, source: str) -> dict:
    """Check names and types of ``values`` against ``schema``; ints given for floats become floats.
    NaN and infinity are refused anywhere, nested values included: no parameter of this book means "not a number"."""
    out = {}
    for name, value in values.items():
        if name not in schema:
            raise InputError(f"{source}: unknown parameter {name!r} for notebook {notebook} "
                             f"(known: {', '.join(sorted(schema))})")
        default = schema[name]
        if not _type_ok(default, value):
            raise InputError(f"{source}: parameter {name!r} of notebook {notebook} expects "
                             f"{type(default).__name__}, got {type(value).__name__} {value!r}")
        bad = _non_finite(value, name)
        if bad:
            raise InputError(f"{source}: parameter {bad!r} of notebook {notebook} is {value!r}; expected a finite "
                             "number")
        out[name] = float(value) if isinstance(default, float) else value
    return out


def parse_overrides(items: list[str] | None) -> dict:
    """``-p key=value`` items; values are read as YAML scalars/lists (``3`` → int, ``0.1`` → float)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"-p {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def resolve(notebook: str, profile: str, overrides: dict | None = None) -> dict:
    """The full, validated parameter set for one notebook run: smoke defaults < profile < overrides."""
    if profile not in PROFILES:
        raise InputError(f"--profile {profile!r}: expected one of {', '.join(PROFILES)}")
    nb_path = paths.NOTEBOOKS / f"{notebook}.ipynb"
    if not nb_path.exists():
        raise InputError(f"notebook {notebook!r} not found under notebooks/")
    schema = notebook_schema(nb_path)
    if "profile" not in schema:
        raise InputError(f"{paths.relative(nb_path)}: the parameters cell must define 'profile'")
    table = load()
    if notebook not in table:
        raise InputError(f"{paths.relative(paths.PROFILES_FILE)}: no entry for notebook {notebook!r}")
    params = dict(schema)
    params.update(validate(notebook, schema, (table[notebook] or {}).get(profile) or {},
                           f"{paths.relative(paths.PROFILES_FILE)} [{notebook}.{profile}]"))
    if "profile" in (overrides or {}):
        raise InputError("-p profile=...: the profile is chosen with --profile, not as a parameter")
    params.update(validate(notebook, schema, overrides or {}, "-p"))
    params["profile"] = profile
    return params


def parameters(notebook: str, namespace: dict) -> dict:
    """The values of ``notebook``'s parameters as they stand in ``namespace`` (a notebook passes ``globals()``).

    The ``parameters`` cell is the single source: its names are read from the notebook file, their current values
    (smoke defaults, or what papermill injected) from the namespace. The dict feeds both the run record
    (:class:`mglib.Run`) and the study's config builder, so no notebook types a parameter twice.
    """
    from mglib import book

    nb_path = paths.NOTEBOOKS / f"{notebook}.ipynb"
    schema = notebook_schema(nb_path)
    missing = [name for name in schema if name not in namespace]
    if missing:
        raise InputError(f"{paths.relative(nb_path)}: parameter {missing[0]!r} is not defined; run the parameters "
                         "cell first")
    values = validate(notebook, schema, {name: namespace[name] for name in schema}, f"{notebook} parameters")
    book.set_chapter(notebook)
    return values
