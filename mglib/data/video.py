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


def read_video(path, fps: float | None = None, select=None) -> tuple[np.ndarray, float]:
    """Decode all frames -> (frames uint8 (T, H, W, 3), fps). With ``fps`` set, resample by frame selection
    (:func:`resample_indices`). ``select`` (without ``fps``): a function of the frame count that returns the indices
    of the frames wanted. Only the frames returned are converted to RGB."""
    import av
    from av.video.reformatter import VideoReformatter

    if fps is not None and select is not None:
        raise ValueError("read_video: give fps or select, not both")
    container = _open(path)
    try:
        stream = container.streams.video[0]
        native = float(stream.average_rate or stream.guessed_rate or 0)
        resample = fps is not None and native > 0 and abs(fps - native) >= 1e-6
        # One converter for the whole video: ``frame.to_ndarray(format=...)`` builds a new one per frame, which
        # costs ten times the decoding of a small frame; the output is the same bytes.
        to_rgb = VideoReformatter()
        try:
            decoded = list(container.decode(stream))  # YUV frames: half the bytes of their RGB
            if not decoded:
                raise InputError(f"{path}: video has no decodable frames")
            if resample:
                idx = resample_indices(len(decoded), native, fps)
            else:
                idx = select(len(decoded)) if select else range(len(decoded))
            frames = np.stack([to_rgb.reformat(decoded[i], format="rgb24").to_ndarray() for i in idx])
        except (av.error.FFmpegError, ValueError) as e:
            raise InputError(f"{path}: cannot decode video ({type(e).__name__}); expected a readable MP4") from None
    finally:
        container.close()
    return frames, (float(fps) if resample else native)


def resample_indices(num_frames: int, fps_in: float, fps_out: float) -> np.ndarray:
    """Source frame index for each output frame at ``fps_out`` covering the same duration."""
    n_out = max(1, int(np.floor(num_frames * fps_out / fps_in + 1e-9)))
    idx = np.floor(np.arange(n_out) * fps_in / fps_out + 1e-9).astype(np.int64)
    return np.minimum(idx, num_frames - 1)
