"""Skeleton pipeline of PoseConv3D: frame sampling, compact cropping, pseudo-heatmap volumes, flips.

Book chapter: ``10_classification`` (the Study 1 chapter) explains each step.
"""
from mglib.pose.heatmaps import (flip_heatmaps, flip_keypoints, joint_heatmaps, joint_heatmaps_loop,
                                 limb_heatmaps, limb_heatmaps_loop, pose_volume)
from mglib.pose.sampling import pose_compact, resize_keypoints, uniform_sample_frames
from mglib.pose.skeleton import flip_index

__all__ = ["flip_heatmaps", "flip_index", "flip_keypoints", "joint_heatmaps", "joint_heatmaps_loop",
           "limb_heatmaps", "limb_heatmaps_loop", "pose_compact", "pose_volume", "resize_keypoints",
           "uniform_sample_frames"]
