"""Metrics and error analysis: detection mAP, online F1, classification, DETAD-style diagnosis, frame mAP.

Chapter: notebooks/02_metrics. Exact rules: evaluation-protocols.md of the project reference.
"""
from mglib.metrics.classification import classification_report, confusion_matrix, ma52_report, topk_accuracy
from mglib.metrics.detad import (DETAD_ACTIVITYNET_BUCKETS, DETAD_THUMOS14_BUCKETS, ERROR_TYPES, MMAD_BUCKETS,
                                 error_analysis)
from mglib.metrics.detection import (ACTIVITYNET_TIOU, DEFAULT_TIOU, POINTTAD_TIOU, detection_map,
                                     evaluate_tables, mmad_table3)
from mglib.metrics.frame_map import dense_targets, frame_map
from mglib.metrics.io import load_ground_truth, load_predictions, write_predictions
from mglib.metrics.levels import ACTION_TO_BODY, to_body_level
from mglib.metrics.online import online_f1
from mglib.metrics.tiou import tiou, tiou_pairwise

__all__ = ["ACTION_TO_BODY", "ACTIVITYNET_TIOU", "DEFAULT_TIOU", "DETAD_ACTIVITYNET_BUCKETS", "DETAD_THUMOS14_BUCKETS",
           "ERROR_TYPES", "MMAD_BUCKETS", "POINTTAD_TIOU", "classification_report", "confusion_matrix",
           "dense_targets", "detection_map", "error_analysis", "evaluate_tables", "frame_map", "load_ground_truth",
           "load_predictions", "ma52_report", "mmad_table3", "online_f1", "tiou", "tiou_pairwise", "topk_accuracy",
           "to_body_level", "write_predictions"]
