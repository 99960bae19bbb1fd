"""MP4 reading and writing with PyAV. Chapter: notebooks/01_datasets.

Frames are uint8 arrays (T, H, W, 3) in RGB order. Frame-rate changes are done by frame selection (nearest earlier
source frame), the way a fixed-rate decoder such as ``ffmpeg -vf fps=N`` drops or repeats frames.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from mglib.data.csvio import require_file
from mglib.errors import InputError


def write_video(path, frames: np.ndarray, fps: float, crf: int = 23) -> None:
    """Encode ``frames`` (T, H, W, 3) uint8 as H.264 MP4 (yuv420p; H and W must be even)."""
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        # single-threaded, fixed options: the same frames give the same bytes on every machine
        stream.options = {"crf": str(crf), "preset": "ultrafast", "threads": "1"}
        stream.thread_count = 1
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _open(path):
    import av

    path = require_file(path, "MP4 video")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise InputError(f"{path}: cannot decode video ({type(e).__name__}); expected a readable MP4") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: no video stream; expected an MP4 with one video stream")
    return container


def probe_video(path) -> tuple[int, float, int, int]:
    """(num_frames, fps, height, width) from the container header, without decoding."""
    container = _open(path)
    try:
        s = container.streams.video[0]
        fps = float(s.average_rate or s.guessed_rate or 0)
        n = s.frames
        if not n and s.duration and s.time_base:
            n = int(round(float(s.duration * s.time_base) * fps))
        return int(n), fps, int(s.codec_context.height), int(s.codec_context.width)
    finally:
        container.close()


def read_video(path, fps: float | None = None) -> tuple[np.ndarray, float]:
    """Decode all frames -> (frames uint8 (T, H, W, 3), fps). With ``fps`` set, resample by frame selection."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        native = float(stream.average_rate or stream.guessed_rate or 0)
        try:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        except (av.error.FFmpegError, ValueError) as e:
            raise InputError(f"{path}: cannot decode video ({type(e).__name__}); expected a readable MP4") from None
    finally:
        container.close()
    if not frames:
        raise InputError(f"{path}: video has no decodable frames")
    arr = np.stack(frames)  # (T, H, W, 3)
    if fps is None or native <= 0 or abs(fps - native) < 1e-6:
        return arr, native
    return arr[resample_indices(len(arr), native, fps)], float(fps)


def resample_indices(num_frames: int, fps_in: float, fps_out: float) -> np.ndarray:
    """Source frame index for each output frame at ``fps_out`` covering the same duration."""
    n_out = max(1, int(np.floor(num_frames * fps_out / fps_in + 1e-9)))
    idx = np.floor(np.arange(n_out) * fps_in / fps_out + 1e-9).astype(np.int64)
    return np.minimum(idx, num_frames - 1)
