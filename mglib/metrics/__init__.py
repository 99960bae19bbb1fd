"""Metrics and error analysis: detection mAP, online F1, classification, DETAD-style diagnosis, frame mAP.

Chapter: notebooks/02_metrics. Exact rules: evaluation-protocols.md of the project reference.
"""
from mglib.metrics.detection import (ACTIVITYNET_TIOU, DEFAULT_TIOU, POINTTAD_TIOU, detection_map,
                                     evaluate_tables, mmad_table3)
from mglib.metrics.levels import ACTION_TO_BODY, to_body_level
from mglib.metrics.tiou import tiou, tiou_pairwise

__all__ = ["ACTION_TO_BODY", "ACTIVITYNET_TIOU", "DEFAULT_TIOU", "POINTTAD_TIOU", "detection_map",
           "evaluate_tables", "mmad_table3", "tiou", "tiou_pairwise", "to_body_level"]
