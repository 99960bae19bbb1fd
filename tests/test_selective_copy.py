"""Tests for mglib.selective_copy: the task's data and the two models of chapter 03."""
import torch

from mglib.selective_copy import CopyModel, CopyTask, TimeInvariantMamba, accuracy, train


def test_batch_layout():
    task = CopyTask(length=10, n_tokens=3, vocab=5)
    x, y = task.batch(50, torch.Generator().manual_seed(0))
    assert x.shape == (50, 13) and y.shape == (50, 3)
    assert (x[:, 10:] == 6).all()  # markers
    body = x[:, :10]
    assert ((body > 0).sum(1) == 3).all()  # exactly n_tokens data tokens among blanks
    for row, target in zip(body, y):  # the targets are the data tokens in order of position
        assert row[row > 0].tolist() == target.tolist()
    assert y.min() >= 1 and y.max() <= 5 and task.chance == 0.2


def test_time_invariant_block_ignores_content_for_its_ssm():
    torch.manual_seed(0)
    blk = TimeInvariantMamba(8, d_state=4)
    x = torch.randn(2, 16, 5)
    dt, B, C = blk.ssm_params(x)
    assert torch.equal(dt, torch.zeros_like(x)) and B.shape == (16, 4) and C.shape == (16, 4)
    assert not hasattr(blk, "x_proj")
    assert blk(torch.randn(2, 5, 8)).shape == (2, 5, 8)


def test_models_and_short_training():
    task = CopyTask(length=8, n_tokens=2, vocab=4)
    for sel in (True, False):
        model = CopyModel(task, d_model=16, d_state=4, selective=sel)
        x, y = task.batch(4, torch.Generator().manual_seed(1))
        assert model(x).shape == (4, 2, 4)
        assert 0.0 <= accuracy(model, x, y) <= 1.0
    threads = torch.get_num_threads()
    r = train(task, selective=True, steps=30, batch=32, d_model=16, d_state=4, eval_size=64, log_every=10)
    assert [c["step"] for c in r["curve"]] == [10, 20, 30]
    assert all(0.0 <= c["eval_acc"] <= 1.0 and c["loss"] > 0 for c in r["curve"]) and r["chance"] == 0.25
    assert torch.get_num_threads() == threads  # train() runs on one thread and restores the setting


def test_compare_sentence_follows_the_numbers():
    from mglib.selective_copy import compare
    r = lambda acc: {"eval_acc": acc, "chance": 0.125}  # noqa: E731
    assert "Neither model is above chance" in compare({"sel": r(0.13), "lti": r(0.12)})
    assert "within 5%" in compare({"sel": r(0.50), "lti": r(0.47)})
    s = compare({"sel": r(0.75), "lti": r(0.55)})
    assert "sel: 75.0%, lti: 55.0% held-out token accuracy (chance 12.5%)" in s and "20 points ahead" in s and "Table 1" in s
    assert "does not reproduce" in compare({"sel": r(0.40), "lti": r(0.70)})
