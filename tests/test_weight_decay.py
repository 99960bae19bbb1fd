"""The engine's optimiser skips weight decay on parameters flagged ``_no_weight_decay`` (Mamba's A_log and D)."""
import torch
from torch import nn

from mglib.models.mamba import Mamba
from mglib.train.engine import fit, no_weight_decay_groups
from mglib.train.toy import ToyConfig, ToyTask


def test_flagged_parameters_get_a_group_without_weight_decay():
    m = Mamba(8)
    groups = no_weight_decay_groups([{"params": m.parameters(), "lr": 0.1}])
    assert len(groups) == 2 and groups[0]["lr"] == groups[1]["lr"] == 0.1
    assert "weight_decay" not in groups[0] and groups[1]["weight_decay"] == 0.0
    assert {id(p) for p in groups[1]["params"]} == {id(m.A_log), id(m.D)}
    plain = [{"params": nn.Linear(2, 2).parameters()}]
    assert len(no_weight_decay_groups(plain)) == 1  # nothing flagged: unchanged


class _MambaTask(ToyTask):
    """The toy task with a Mamba block beside the MLP and a zero loss: only weight decay moves the weights."""

    def build_model(self):
        model = super().build_model()
        model.mamba = Mamba(8)
        return model

    def loss(self, model, batch):
        return sum(p.sum() for p in model.parameters()) * 0.0, {}


def test_fit_decays_weights_but_not_a_log_and_d(tmp_path):
    cfg = ToyConfig()
    cfg.optim.epochs, cfg.optim.lr, cfg.optim.weight_decay = 1, 0.1, 0.5
    task = _MambaTask(cfg)
    torch.manual_seed(cfg.optim.seed)
    fit(task, tmp_path)
    from safetensors.torch import load_file

    after = load_file(str(tmp_path / "best.safetensors"))
    from mglib.seeding import seed_everything

    seed_everything(cfg.optim.seed)
    before = task.build_model().state_dict()
    assert torch.equal(after["mamba.A_log"], before["mamba.A_log"])
    assert torch.equal(after["mamba.D"], before["mamba.D"])
    assert after["fc1.weight"].abs().sum() < 0.9 * before["fc1.weight"].abs().sum()  # decayed
    assert after["mamba.in_proj.weight"].abs().sum() < 0.9 * before["mamba.in_proj.weight"].abs().sum()
