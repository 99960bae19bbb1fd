import numpy as np
import pytest

from mglib.errors import InputError
from mglib.studies.online import stream_rgb as encoder
from mglib.studies.online.data import gesture_spans, split_subjects


def test_resize_frames_crops_centre_square():
    f = np.zeros((3, 20, 40, 3), np.uint8)
    f[:, :, 10:30] = 200  # the centre 20×20 square is bright, the sides dark
    out = encoder.resize_frames(f, 8)
    assert out.shape == (3, 8, 8, 3) and out.dtype == np.uint8 and out.min() == 200


def test_motion_box_finds_moving_region_and_crop_fills_frame():
    f = np.full((6, 32, 32, 3), 50, np.uint8)
    f[::2, 10:20, 4:8] = 250  # a blinking patch: rows 10..19, columns 4..7
    assert encoder.motion_box(f, pad=1) == (9, 21, 3, 9)
    assert encoder.motion_box(np.zeros((4, 8, 8, 3), np.uint8)) == (0, 8, 0, 8)  # nothing moves: whole frame
    out = encoder.crop_resize(f, (10, 20, 4, 8), 8)
    assert out.shape == (6, 8, 8, 3) and out[0].min() == 250 and out[1].max() == 50


def test_clip_at_is_centred_and_clamped():
    frames = np.arange(50)[:, None, None, None].repeat(2, 1).repeat(2, 2).repeat(3, 3).astype(np.uint8)
    # 30-fps label frames 91..151 = 3-5 s → 10-fps frames 30..50, middle 40
    (_, a, b), = gesture_spans(np.array([[4, 91, 151]]), 30.0, 10.0)
    assert encoder.clip_at(frames, (a + b) / 2, 8)[:, 0, 0, 0].tolist() == [36, 37, 38, 39, 40, 41, 42, 43]
    assert encoder.clip_at(frames, 1.0, 8)[0, 0, 0, 0] == 0  # clamped at the sequence start


def test_split_subjects_holds_out_validation_subjects():
    class S:
        def __init__(self, subject):
            self.subject = subject

    seqs = [S(i) for i in (1, 2, 32, 34, 36, 37)]
    tr, va, te = split_subjects(seqs)  # default: smg.VAL_SUBJECTS = 31-35
    assert [s.subject for s in tr] == [1, 2] and [s.subject for s in va] == [32, 34]
    assert [s.subject for s in te] == [36, 37]
    tr, va, _ = split_subjects(seqs, (2,))
    assert [s.subject for s in tr] == [1, 32, 34] and [s.subject for s in va] == [2]
    with pytest.raises(InputError):
        split_subjects(seqs[:2] + seqs[4:])  # no validation subject


def test_background_spans_stay_clear_of_gestures():
    spans = np.array([[3, 20.0, 30.0], [5, 60.0, 70.0]])
    bg = encoder.background_centres(spans, 100, 8, 17, every=2)
    assert len(bg) > 0 and (bg[:, 0] == 17).all()
    for c in bg[:, 1]:  # the whole clip [c-4, c+4) is clear of each gesture ±4 frames
        assert c + 4 <= 16 or 35 <= c - 4 < c + 4 <= 56 or c - 4 >= 75


def test_rest_input_removes_the_static_scene():
    from mglib.models.video_encoder import frames_to_input, rest_frame

    f = np.full((5, 4, 4, 3), 100, np.uint8)
    f[2, 1, 1] = 200  # one pixel moves in one frame
    x = frames_to_input(f, rest_frame(f))
    assert x.shape == (1, 3, 5, 4, 4) and float(x.abs().sum()) == pytest.approx(3 * 100 / 63.75)


def test_decode_reads_a_video_once_per_process_and_again_when_it_changes(tmp_path, monkeypatch):
    from mglib.data import video

    p = tmp_path / "a.mp4"
    video.write_video(p, np.full((20, 16, 16, 3), 90, np.uint8), 10)
    reads = []
    real = video.read_video
    monkeypatch.setattr(video, "read_video", lambda *a, **k: reads.append(a) or real(*a, **k))
    monkeypatch.setattr(encoder, "_DECODED", {})
    first = encoder.decode(p, 5.0, 8)
    np.testing.assert_array_equal(encoder.decode(p, 5.0, 8), first)
    assert len(reads) == 1 and first.shape == (10, 8, 8, 3)
    encoder.decode(p, 5.0, 4)  # another size is another decode
    video.write_video(p, np.full((30, 16, 16, 3), 90, np.uint8), 10)  # regenerated: read again
    assert len(encoder.decode(p, 5.0, 8)) == 15 and len(reads) == 3
