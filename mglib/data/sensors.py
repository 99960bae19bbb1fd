"""Sensors that observe the body model: a pinhole camera, Kinect-v2 25 joints (SMG), OpenPose 35 joints (iMiGUE).

Chapter: notebooks/01_datasets.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mglib.data.body import LEFT, RIGHT


@dataclass
class Camera:
    """Body frame -> camera frame (yaw about the pelvis, then translation), then pinhole projection to pixels."""
    offset: tuple = (0.0, 0.1, 2.6)  # pelvis position in camera coordinates (m); z is depth
    yaw: float = 0.0
    focal: float = 100.0  # px
    width: int = 64
    height: int = 64
    center_y: float = 0.5  # principal point as a fraction of the height

    def to_camera(self, p: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        x = p[..., 0] * c + p[..., 2] * s
        z = -p[..., 0] * s + p[..., 2] * c
        return np.stack([x, p[..., 1], z], -1) + np.asarray(self.offset)

    def project(self, p: np.ndarray, shake: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) body points -> (..., 2) pixel (u right, v down), depth. ``shake`` (T, 2) px per frame."""
        q = self.to_camera(p)
        z = np.maximum(q[..., 2], 0.1)
        u = self.focal * q[..., 0] / z + self.width / 2
        v = -self.focal * q[..., 1] / z + self.height * self.center_y
        uv = np.stack([u, v], -1)
        if shake is not None:
            uv = uv + shake.reshape(shake.shape[:1] + (1,) * (uv.ndim - 2) + (2,))
        return uv, z

    def scaled(self, width: int, height: int) -> "Camera":
        k = width / self.width
        return Camera(self.offset, self.yaw, self.focal * k, width, height, self.center_y)


def _quat_from_bone(d: np.ndarray) -> np.ndarray:
    """Quaternion (w, x, y, z) rotating +y onto each bone direction ``d`` (..., 3)."""
    d = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9)
    up = np.zeros_like(d)
    up[..., 1] = 1
    w = 1 + (up * d).sum(-1, keepdims=True)
    q = np.concatenate([w, np.cross(up, d)], -1)
    return q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-9)


# Kinect v2 joints from the body model (Kinect 'Left' = subject's left = body-model side LEFT)
_KINECT = ["spine_base", "spine_mid", "neck", "head", "shoulder1", "elbow1", "wrist1", "hand1", "shoulder0",
           "elbow0", "wrist0", "hand0", "hip1", "knee1", "ankle1", "foot1", "hip0", "knee0", "ankle0", "foot0",
           "spine_shoulder", "hand_tip1", "thumb1", "hand_tip0", "thumb0"]
_KINECT_PARENT = [1, 20, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 7, 11, 11]


def kinect25(J: dict, cam: Camera, rng: np.random.Generator, noise: float = 1.0) -> np.ndarray:
    """(T, 25, 11) float32: camera-space xyz (m; Kinect x grows to the sensor's left), orientation quaternion,
    colour-space pixel (1920x1080) and depth-space pixel (512x424)."""
    P = np.stack([J[k] for k in _KINECT], 1)  # (T, 25, 3) body frame
    T = len(P)
    P = P + noise * 0.006 * rng.standard_normal(P.shape)  # Kinect jitter ~6 mm
    glitch = rng.random((T, 25)) < 0.002 * noise  # rare tracking glitches
    P = P + glitch[..., None] * rng.normal(0, 0.05, P.shape)
    q = cam.to_camera(P)
    xyz = np.stack([-q[..., 0], q[..., 1], q[..., 2]], -1)
    quat = _quat_from_bone(P - P[:, _KINECT_PARENT])
    color, _ = cam.scaled(1920, 1080).project(P)
    depth_cam = Camera(cam.offset, cam.yaw, 365.0, 512, 424, cam.center_y)
    depth_px, _ = depth_cam.project(P)
    return np.concatenate([xyz, quat, color, depth_px], -1).astype(np.float32)


def openpose35(J: dict, cam: Camera, rng: np.random.Generator, noise: float = 1.0,
               legs_visible: bool = False) -> np.ndarray:
    """(T, 35, 3) float32 (x px, y px, confidence) in the 1280x720 frame, loader order of datasets.md.

    OpenPose names the subject's side: 2-4 = subject's right arm, 5-7 = left arm. Finger groups follow the kit's
    visualiser: 25-29 ('RightFinger') on joint 7, 30-34 ('LeftFinger') on joint 4. Missing detections are
    (0, 0, 0), as OpenPose writes them; legs are hidden (press-conference table) unless ``legs_visible``.
    """
    R, L = RIGHT, LEFT
    mid_hip = 0.5 * (J["hip0"] + J["hip1"])
    pts = [J["nose"], J["spine_shoulder"], J[f"shoulder{R}"], J[f"elbow{R}"], J[f"wrist{R}"], J[f"shoulder{L}"],
           J[f"elbow{L}"], J[f"wrist{L}"], mid_hip, J[f"hip{R}"], J[f"knee{R}"], J[f"ankle{R}"], J[f"hip{L}"],
           J[f"knee{L}"], J[f"ankle{L}"], J[f"eye{R}"], J[f"eye{L}"], J[f"ear{R}"], J[f"ear{L}"], J[f"toe{L}"],
           J[f"small_toe{L}"], J[f"heel{L}"], J[f"toe{R}"], J[f"small_toe{R}"], J[f"heel{R}"]]
    P = np.concatenate([np.stack(pts, 1), J[f"fingers{L}"], J[f"fingers{R}"]], 1)  # (T, 35, 3)
    T = len(P)
    uv, _ = cam.scaled(1280, 720).project(P)
    base_sigma = np.array([2.0] * 25 + [4.0] * 10)  # px; fingertips are noisier
    uv = uv + noise * base_sigma[None, :, None] * rng.standard_normal(uv.shape)
    conf = np.clip(rng.normal(np.r_[[0.85] * 25, [0.55] * 10], 0.1 * max(noise, 0.1), size=(T, 35)), 0.05, 1.0)
    # dropouts come in bursts: a missing joint tends to stay missing for a few frames
    start = rng.random((T, 35)) < 0.01 * noise * np.r_[[1.0] * 25, [3.0] * 10]
    drop = np.zeros((T, 35), bool)
    for lag in range(4):
        drop[lag:] |= start[:T - lag]
    hidden = np.zeros(35, bool)
    if not legs_visible:
        hidden[[9, 10, 11, 12, 13, 14, 19, 20, 21, 22, 23, 24]] = True
    drop |= hidden[None]
    out = np.concatenate([uv, conf[..., None]], -1)
    out[drop] = 0.0
    return out.astype(np.float32)
