import numpy as np
import pytest
import torch

from mglib.errors import InputError
from mglib.models.video_encoder import VideoEncoder, VideoEncoderConfig, extract_snippet_features, load_i3d_weights


def test_tiny_encoder_stride_4_and_chunking():
    torch.manual_seed(0)
    m = VideoEncoder(VideoEncoderConfig(width=0.0625, num_classes=3)).eval()
    frames = np.random.default_rng(0).integers(0, 255, (37, 32, 32, 3), dtype=np.uint8)
    whole = extract_snippet_features(m, frames, chunk=64, margin=0)
    assert whole.shape == (10, m.feature_dim)  # ceil(37 / 4)
    chunked = extract_snippet_features(m, frames, chunk=16, margin=32)  # margin ≥ sequence: same as one pass
    assert np.allclose(whole, chunked, atol=1e-5)
    assert m(torch.zeros(2, 3, 8, 32, 32)).shape == (2, 3)


def test_i3d_layout_at_width_1():
    """Width 1 is InceptionI3d's layout (loading an official file: tests/test_checkpoints.py)."""
    full = VideoEncoder(VideoEncoderConfig(width=1.0))
    assert full.dim_4f == 832 and full.dim_5c == 1024
    assert tuple(full.Mixed_4f.b1b.conv3d.weight.shape) == (320, 160, 3, 3, 3)
    with pytest.raises(InputError, match="not found"):
        load_i3d_weights(full, "missing.pt")
