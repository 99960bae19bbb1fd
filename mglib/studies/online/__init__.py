"""Study 2: micro-gesture online recognition on SMG with PointTAD and PointTAD + Mamba-MHSA (paper 000).

Chapters: 04 (feature streams), 20 (main comparison and the MMA-52 baseline), 21 (Table 2 ablations), 22
(difficulty sweeps). Each reads ``cfg = config(params)`` and one of the cached ``run_*`` functions, then shows the
runs with :mod:`report`.
"""
from mglib.studies.online import report
from mglib.studies.online.config import config
from mglib.studies.online.task import (run_ablations, run_detectors, run_mma52, run_streams, run_sweeps,
                                       window_latency, write_ground_truth, write_prediction_files)

__all__ = ["config", "report", "run_ablations", "run_detectors", "run_mma52", "run_streams", "run_sweeps",
           "window_latency", "write_ground_truth", "write_prediction_files"]
