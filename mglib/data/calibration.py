"""Aggregate statistics of the real SMG and iMiGUE annotations, the targets the synthetic stand-ins are calibrated to.

The real files are licence-gated, so only these aggregates are kept (source: the project's reference notes,
``calibration.md``). MMA-52 needs no such table: its real annotation CSVs are public and are read directly
(``python -m mglib data fetch mma52-annotations``). Chapter: notebooks/01_datasets.
"""
from __future__ import annotations

# iMiGUE: all 18,498 labelled segments of 359 videos (72 subjects, 25 fps), from the label table the dataset's
# authors publish. Raw class 99 is the non-micro-gesture class (0-based 31 in the MiGA files: c -> c-1, 99 -> 31).
IMIGUE = {
    "segments": 18498,
    "videos": 359,
    "fps": 25,
    "duration_s": {"p10": 0.75, "median": 1.57, "mean": 2.55, "p90": 5.18, "p99": 15.6, "max": 147.7},
    "segments_per_video": {"median": 39, "mean": 51.5, "max": 282},
    "gap_s": {"p10": -0.11, "median": 1.05, "p90": 11.28},
    "overlap_share": 0.118,
    # raw class -> (count, median duration in s)
    "classes": {
        1: (15, 1.42), 2: (515, 1.31), 3: (45, 1.53), 4: (271, 2.16), 5: (90, 1.90), 6: (32, 2.19), 7: (90, 2.41),
        8: (1134, 2.04), 9: (132, 1.89), 10: (5, 4.05), 11: (454, 3.02), 12: (198, 3.00), 13: (140, 1.88),
        14: (70, 3.13), 15: (44, 1.69), 16: (30, 3.00), 17: (406, 3.28), 18: (131, 2.73), 19: (2, 1.83),
        20: (1217, 2.25), 21: (227, 1.70), 22: (527, 3.30), 23: (1035, 3.12), 24: (888, 3.12), 25: (21, 2.38),
        26: (430, 4.09), 27: (100, 1.05), 28: (99, 1.26), 29: (1547, 1.37), 30: (8, 2.04), 31: (2880, 1.05),
        99: (5715, 1.28),
    },
}

# SMG: fine labels of training Samples 0001-0035 (3,089 gestures, 30 fps), as reconstructed from a public MiGA
# challenge entry (not checked against the licence-gated official files). Frames as in *_finelabels.csv.
SMG = {
    "gestures": 3089,
    "sequences": 35,
    "fps": 30,
    "gestures_per_sequence": {"median": 78, "mean": 88.3, "min": 6, "max": 326},
    "duration_frames": {"p10": 20, "median": 44, "mean": 54.6, "p90": 102, "max": 554},
    "gap_frames": {"p10": 1, "median": 31, "p90": 574},
    "overlapping_pairs": (40, 3054),
    # raw label (1-based; 17 is the non-micro-gesture "illustrative" class) -> (count, median duration in frames)
    "classes": {
        1: (43, 38), 2: (48, 61), 3: (182, 28), 4: (9, 41), 5: (1104, 45), 6: (23, 70), 7: (123, 16), 8: (255, 37),
        9: (880, 47), 10: (16, 40), 11: (16, 47), 12: (190, 55), 13: (60, 63), 14: (64, 44), 15: (11, 59),
        16: (21, 66), 17: (44, 31),
    },
}


def class_shares(table: dict) -> dict[int, float]:
    """Share of each raw class among all segments of a table above."""
    total = sum(n for n, _ in table["classes"].values())
    return {c: n / total for c, (n, _) in table["classes"].items()}
