"""Study 1: micro-gesture classification on iMiGUE (Chen et al. 2024), chapters 10-12.

A chapter reads: ``cfg = S.config(params)`` -> ``runs = S.run(cfg)`` (cached) -> ``S.report.<table>(runs)``.
"""
from mglib.studies.classification import report
from mglib.studies.classification.config import config
from mglib.studies.classification.data import designed_pairs
from mglib.studies.classification.task import ablations, data_root, features, majority_baseline, run, sweeps

__all__ = ["ablations", "config", "data_root", "designed_pairs", "features", "majority_baseline", "report", "run",
           "sweeps"]
