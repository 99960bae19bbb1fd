import numpy as np
import pytest

pytest.importorskip("mglib.train.task")  # the engine lands separately
from mglib.studies import encoder  # noqa: E402


def test_resize_frames_crops_centre_square():
    f = np.zeros((3, 20, 40, 3), np.uint8)
    f[:, :, 10:30] = 200  # the centre 20×20 square is bright, the sides dark
    out = encoder.resize_frames(f, 8)
    assert out.shape == (3, 8, 8, 3) and out.dtype == np.uint8 and out.min() == 200


def test_cut_clips_centred_on_gesture():
    frames = np.arange(50)[:, None, None, None].repeat(2, 1).repeat(2, 2).repeat(3, 3).astype(np.uint8)
    # 30-fps label frames 91..151 = 3–5 s → 10-fps frames 30..50, middle 40
    clips, y = encoder.cut_clips(frames, np.array([[4, 91, 151]]), 30.0, 10.0, 8)
    assert clips.shape == (1, 8, 2, 2, 3) and y.tolist() == [4]
    assert clips[0, :, 0, 0, 0].tolist() == [36, 37, 38, 39, 40, 41, 42, 43]
    clips, _ = encoder.cut_clips(frames, np.array([[1, 1, 10]]), 30.0, 10.0, 8)
    assert clips[0, 0, 0, 0, 0] == 0  # clamped at the sequence start


def test_split_subjects_holds_out_highest_training_subjects():
    class S:
        def __init__(self, subject):
            self.subject = subject

    seqs = [S(i) for i in (1, 2, 3, 4, 36, 37)]
    tr, va, te = encoder.split_subjects(seqs, 2)
    assert [s.subject for s in tr] == [1, 2] and [s.subject for s in va] == [3, 4]
    assert [s.subject for s in te] == [36, 37]
    with pytest.raises(encoder.InputError):
        encoder.split_subjects(seqs, 4)
