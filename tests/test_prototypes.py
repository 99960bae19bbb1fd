import math

import pytest
import torch
import torch.nn.functional as F

from mglib.models.prototypes import (PRMConfig, PrototypicalRefinement, ambiguous_sets, calibration_terms,
                                     masked_centres, prototype_loss)


def unit(*angles):  # 2-D unit vectors at the given angles (degrees)
    a = torch.tensor(angles, dtype=torch.float32) * math.pi / 180
    return torch.stack([a.cos(), a.sin()], 1)


LABELS = torch.tensor([0, 0, 1, 2, 1])
PRED = torch.tensor([0, 1, 1, 1, 2])
FEAT = unit(0, 60, 90, 150, 200)


def test_sets_by_hand():
    tp, fn, fp = ambiguous_sets(PRED, LABELS, 3)
    assert tp.nonzero().tolist() == [[0, 0], [2, 1]]
    assert fn.nonzero().tolist() == [[1, 0], [3, 2], [4, 1]]  # (sample, its true class)
    assert fp.nonzero().tolist() == [[1, 1], [3, 1], [4, 2]]  # (sample, the class it was taken for)
    centres, counts = masked_centres(FEAT, fp)
    assert counts.tolist() == [0, 2, 1]
    assert torch.allclose(centres[1], (FEAT[1] + FEAT[3]) / 2) and torch.all(centres[0] == 0)


def test_calibration_terms_tp_only():
    tp, fn, fp = ambiguous_sets(PRED, LABELS, 3)
    phi, varphi = calibration_terms(FEAT, LABELS, tp, fn, fp, "tp")
    cos = lambda a, b: float(F.cosine_similarity(a, b, dim=0))
    # sample 0: TP of class 0; class 0's FN set is {1} -> phi = 1 - cos(60 deg); no FP of class 0 -> varphi = 0
    assert phi[0] == pytest.approx(1 - 0.5, abs=1e-6) and varphi[0] == 0
    # sample 2: TP of class 1; FN of class 1 = {4}, FP of class 1 = {1, 3} (centre at 105 deg)
    assert phi[2] == pytest.approx(1 - cos(FEAT[2], FEAT[4]), abs=1e-6)
    assert varphi[2] == pytest.approx(1 + math.cos(math.radians(15)), abs=1e-6)
    assert torch.all(phi[[1, 3, 4]] == 0) and torch.all(varphi[[1, 3, 4]] == 0)  # not TP: no terms


def test_calibration_terms_all_samples_variant():
    tp, fn, fp = ambiguous_sets(PRED, LABELS, 3)
    phi, varphi = calibration_terms(FEAT, LABELS, tp, fn, fp, "all")
    # sample 3 (class 2, misclassified) now gets class 2's FP centre {4}: varphi = 1 + cos(150 - 200 deg)
    assert varphi[3] == pytest.approx(1 + math.cos(math.radians(50)), abs=1e-6)
    assert phi[3] == pytest.approx(0, abs=1e-6)  # its own FN set is {3}: cos = 1


def test_eq9_by_hand():
    protos = unit(0, 90, 180)
    labels = torch.tensor([0, 1])
    feat = unit(10, 80)
    p_true = torch.tensor([0.7, 0.4])
    phi, varphi = torch.tensor([0.3, 0.0]), torch.tensor([1.5, 0.2])
    tau = 0.125
    feat, protos, p_true, phi, varphi = (t.double() for t in (feat, protos, p_true, phi, varphi))
    got = prototype_loss(feat, protos, labels, p_true, phi, varphi, tau)
    s = (feat @ protos.t() / tau).tolist()
    total = 0.0
    for i, k in enumerate(labels.tolist()):
        for term in (float(varphi[i]), float(phi[i])):
            sk = s[i][k] - (1 - float(p_true[i])) * term
            others = sum(math.exp(v) for l, v in enumerate(s[i]) if l != k)
            total += -math.log(math.exp(sk) / (math.exp(sk) + others))
    assert float(got) == pytest.approx(total / 2, rel=1e-5)


def test_no_fn_fp_reduces_to_two_prototype_cross_entropies():
    torch.manual_seed(0)
    prm = PrototypicalRefinement(6, 3, PRMConfig(dim=4))
    fmap = torch.randn(4, 6, 2, 3, 3)
    labels = torch.tensor([0, 1, 2, 1])
    logits = F.one_hot(labels, 3).float() * 5  # all correct
    prm.eval()
    loss, logs = prm(fmap, logits, labels)
    assert logs["n_fn"] == 0 and logs["n_fp"] == 0 and logs["n_tp"] == 4
    f = prm.embed(fmap)
    expected = 2 * F.cross_entropy(f @ prm.prototypes.t() / 0.125, labels)
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


def test_ema_update_only_classes_with_tp():
    prm = PrototypicalRefinement(2, 3, PRMConfig(dim=2, rho=0.9))
    with torch.no_grad():
        prm.prototypes.copy_(unit(0, 90, 180))
    tp, _, _ = ambiguous_sets(PRED, LABELS, 3)
    before = prm.prototypes.clone()
    prm.update_prototypes(FEAT, tp)
    # class 0: TP mean = FEAT[0] = (1, 0): P stays (1, 0); class 1: 0.1 * (cos 90, sin 90) + 0.9 * (0, 1) = (0, 1)
    assert torch.allclose(prm.prototypes[0], before[0]) and torch.allclose(prm.prototypes[1], before[1], atol=1e-6)
    assert torch.equal(prm.prototypes[2], before[2])  # no TP of class 2
    with torch.no_grad():
        prm.prototypes.copy_(unit(90, 0, 180))
    prm.update_prototypes(FEAT, tp)
    exp0 = F.normalize(0.1 * FEAT[0] + 0.9 * unit(90)[0], dim=0)
    assert torch.allclose(prm.prototypes[0], exp0, atol=1e-6)


def test_training_mode_updates_and_gradients_flow():
    torch.manual_seed(1)
    prm = PrototypicalRefinement(6, 3, PRMConfig(dim=4))
    fmap = torch.randn(5, 6, 2, 3, 3, requires_grad=True)
    logits = torch.randn(5, 3, requires_grad=True)
    labels = logits.detach().argmax(1)  # all TP, so every class present gets an EMA step
    before = prm.prototypes.clone()
    loss, _ = prm.train()(fmap, logits, labels)
    changed = (prm.prototypes - before).abs().sum(1) > 0
    assert changed[labels.unique()].all()
    assert torch.allclose(prm.prototypes.norm(dim=1), torch.ones(3))
    loss.backward()
    assert fmap.grad.abs().sum() > 0 and prm.proj.weight.grad is not None


def test_p_true_gradient_and_detach_option():
    torch.manual_seed(2)
    labels = torch.tensor([0, 0, 1, 1])
    for detach, expect_grad in ((False, True), (True, False)):
        prm = PrototypicalRefinement(4, 2, PRMConfig(dim=3, detach_prob=detach)).eval()
        logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0], [2.0, 0.0]], requires_grad=True)
        loss, logs = prm(torch.randn(4, 4), logits, labels)
        assert logs["n_fn"] == 2
        loss.backward()
        assert (logits.grad is not None and logits.grad.abs().sum() > 0) == expect_grad
