"""Skeleton pipeline of PoseConv3D: frame sampling, compact cropping, pseudo-heatmap volumes, flips.

Book chapter: ``10_classification`` (the Study 1 chapter) explains each step.
"""
from mglib.pose.heatmaps import (flip_heatmaps, flip_keypoints, joint_heatmaps, joint_heatmaps_loop,
                                 limb_heatmaps, limb_heatmaps_loop, pose_volume)
from mglib.pose.sampling import pose_compact, resize_keypoints, uniform_sample_frames
from mglib.pose.skeleton import limb_flip_index, pairs_to_permutation

__all__ = ["flip_heatmaps", "flip_keypoints", "joint_heatmaps", "joint_heatmaps_loop", "limb_flip_index",
           "limb_heatmaps", "limb_heatmaps_loop", "pairs_to_permutation", "pose_compact", "pose_volume",
           "resize_keypoints", "uniform_sample_frames"]
