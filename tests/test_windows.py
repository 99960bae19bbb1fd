import numpy as np
import pytest

from mglib import windows as W


@pytest.mark.parametrize("length,window", [(5, 8), (8, 8), (37, 8), (100, 32), (129, 128)])
def test_test_windows_cover_every_token(length, window):
    starts = W.test_starts(length, window)
    covered = np.zeros(max(length, window), bool)
    for s in starts:
        covered[s:s + window] = True
    assert covered[:length].all() and starts[0] == 0
    assert max(starts) + window >= length and all(s + window <= max(length, window) for s in starts)


def test_training_windows_keep_only_complete_gt():
    inst = np.array([[3, 2.0, 6.0], [1, 10.0, 30.0], [0, 40.0, 44.0]])  # label, start_tok, end_tok
    wins = W.training_windows(48, inst, window=16, overlap=0.75)
    assert W.train_stride(16, 0.75) == 4
    starts = [s for s, _ in wins]
    assert 0 in starts and 32 in starts and 16 not in starts  # [16, 32) holds no complete GT → dropped
    for s, t in wins:
        for lab, c, l in t:
            a, b = s + (c - l / 2) * 16, s + (c + l / 2) * 16
            assert any(np.allclose([lab, a, b], row) for row in inst) and a >= s and b <= s + 16
    assert all(1.0 not in t[:, 0] for _, t in wins)  # the 20-token GT never fits a 16-token window


def test_frame_token_round_trip_and_predictions_land_on_right_frames():
    fps, n = 30.0, 3001
    frames = np.array([1, 31, 700, 2999])
    assert np.allclose(W.tokens_to_frames(W.frames_to_tokens(frames, fps), fps), frames)
    # 30-fps label frames 121..241 = seconds 4..8 = 10-fps frames 40..80 = tokens 10..20
    assert np.allclose(W.frames_to_tokens([121, 241], fps), [10, 20])
    T = int(np.ceil(W.frames_to_tokens(n, fps)))
    window = 32
    starts = W.test_starts(T, window)
    gt = [(4, 121, 241), (0, 2500, 2600)]
    per_window = []
    for s in starts:  # a perfect detector: each window reports the GT it fully contains, in window units
        rows = []
        for lab, a, b in gt:
            ta, tb = W.frames_to_tokens([a, b], fps)
            if ta >= s and tb <= s + window:
                rows.append([lab, 0.9, (ta - s) / window, (tb - s) / window])
        per_window.append(np.array(rows).reshape(-1, 4))
    merged = W.merge_detections(starts, window, per_window)
    rows = W.to_label_rows(W.select(merged, 0.5), fps, n)
    assert sorted(rows) == sorted(gt)


def test_slice_window_pads_with_last_token():
    f = np.arange(10).reshape(5, 2)
    w = W.slice_window(f, 3, 4)
    assert w.tolist() == [[6, 7], [8, 9], [8, 9], [8, 9]]


def test_nms_same_class_only_and_threshold():
    d = np.array([[1, 0.9, 0, 10], [1, 0.8, 1, 10], [2, 0.7, 1, 10], [1, 0.2, 50, 60]])
    out = W.select(d, 0.5, 0.5)
    assert out[:, 1].tolist() == [0.9, 0.7]
