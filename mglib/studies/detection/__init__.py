"""Study 3: multi-label micro-action detection on MMA-52 (the MMAD paper). Chapters 30_mmad (pretraining, adapters,
Tables 3-4) and 31_mmad_errors (error profiles, the amplitude sweep)."""
from mglib.studies.detection import data, report
from mglib.studies.detection.config import config
from mglib.studies.detection.task import run, run_sweep

__all__ = ["config", "data", "report", "run", "run_sweep"]
