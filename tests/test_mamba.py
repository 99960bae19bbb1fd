"""Tests for mglib.models.mamba: the two scans agree, the SSM views agree, the block matches mamba_ssm's layout."""
import math

import pytest
import torch
import torch.nn.functional as F

from mglib.models.mamba import (PARAMETER_NAMES, SINGLE_CHUNK_MAX, Mamba, MambaMHSA, _auto_chunk, causal_conv,
                                selective_scan, selective_scan_ref, ssm_kernel)


def _inputs(bc="input", batch=2, E=8, N=4, L=19, G=2, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    u, delta = r(batch, E, L), r(batch, E, L) * 0.5
    A = -torch.exp(r(E, N) * 0.5)  # negative real, like -exp(A_log)
    shape = {"invariant": (E, N), "input": (batch, N, L), "grouped": (batch, G, N, L)}[bc]
    return dict(u=u, delta=delta, A=A, B=r(*shape), C=r(*shape), D=r(E), z=r(batch, E, L), delta_bias=r(E))


OPTION_SETS = [
    dict(),  # bare scan: positive delta needed for a decaying system, so take |delta|
    dict(delta_softplus=True),
    dict(delta_softplus=True, use_bias=True),
    dict(use_D=True),
    dict(use_z=True),
    dict(delta_softplus=True, use_bias=True, use_D=True, use_z=True),
]


def _call(fn, x, opts, **kw):
    delta = x["delta"] if opts.get("delta_softplus") else x["delta"].abs()
    return fn(x["u"], delta, x["A"], x["B"], x["C"], D=x["D"] if opts.get("use_D") else None,
              z=x["z"] if opts.get("use_z") else None, delta_bias=x["delta_bias"] if opts.get("use_bias") else None,
              delta_softplus=opts.get("delta_softplus", False), **kw)


@pytest.mark.parametrize("bc", ["invariant", "input", "grouped"])
@pytest.mark.parametrize("opts", OPTION_SETS)
def test_chunked_matches_sequential_values_and_grads(bc, opts):
    x = _inputs(bc)
    leaves = {k: v.clone().requires_grad_(True) for k, v in x.items()}
    ref = _call(selective_scan_ref, leaves, opts)
    gy = torch.randn_like(ref)
    g_ref = torch.autograd.grad((ref * gy).sum(), list(leaves.values()), allow_unused=True)
    for K in (1, 4, 5, 32):  # L = 19: uneven last chunk, one chunk, one step per chunk
        out = _call(selective_scan, leaves, opts, chunk_size=K)
        assert out.shape == ref.shape and out.dtype == torch.float32
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
        with torch.no_grad():  # the in-place path taken without autograd
            torch.testing.assert_close(_call(selective_scan, leaves, opts, chunk_size=K), ref.detach(),
                                       atol=1e-5, rtol=1e-5)
        g = torch.autograd.grad((out * gy).sum(), list(leaves.values()), allow_unused=True)
        for name, a, b in zip(leaves, g, g_ref):
            assert (a is None) == (b is None), name
            if a is not None:
                torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4, msg=f"grad of {name}, K={K}")


@pytest.mark.parametrize("L", [100, 10])  # sqrt(L) chunks; one chunk (a decoder's queries)
def test_last_state_and_default_chunking(L):
    x = _inputs("input", L=L)
    opts = dict(delta_softplus=True, use_bias=True, use_D=True)
    y_ref, s_ref = _call(selective_scan_ref, x, opts, return_last_state=True)
    y, s = _call(selective_scan, x, opts, return_last_state=True)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s, s_ref, atol=1e-5, rtol=1e-5)
    assert s.shape == (2, 8, 4)
    with torch.no_grad():
        y, s = _call(selective_scan, x, opts, return_last_state=True)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s, s_ref, atol=1e-5, rtol=1e-5)


def test_auto_chunk_is_one_chunk_for_short_sequences_else_sqrt():
    assert [_auto_chunk(L) for L in (1, 10, SINGLE_CHUNK_MAX)] == [1, 10, SINGLE_CHUNK_MAX]
    assert [_auto_chunk(L) for L in (SINGLE_CHUNK_MAX + 1, 300, 1024)] == [4, 16, 32]


def test_reference_matches_hand_recurrence():
    # one channel, one state, scalars: x_t = exp(d a) x_{t-1} + d b u_t, y_t = c x_t
    u = torch.tensor([[[1.0, 0.0, 2.0]]])
    d = torch.full_like(u, 0.5)
    A, B, C = torch.tensor([[-2.0]]), torch.tensor([[3.0]]), torch.tensor([[0.5]])
    x, want = 0.0, []
    for ut in (1.0, 0.0, 2.0):
        x = math.exp(-1.0) * x + 0.5 * 3.0 * ut
        want.append(0.5 * x)
    for fn in (selective_scan_ref, selective_scan):
        torch.testing.assert_close(fn(u, d, A, B, C)[0, 0], torch.tensor(want))


@pytest.mark.parametrize("chunk", [4, None])  # two chunks; one chunk with the hand-written backward
def test_fp64_gradcheck_chunked(chunk):
    x = _inputs("input", batch=1, E=2, N=2, L=6, dtype=torch.float64)
    leaves = [x[k].requires_grad_(True) for k in ("u", "delta", "A", "B", "C")]
    f = lambda u, d, a, b, c: selective_scan(u, d, a, b, c, D=x["D"], z=x["z"], delta_softplus=True,  # noqa
                                             chunk_size=chunk)
    assert torch.autograd.gradcheck(f, leaves)


def test_time_invariant_recurrence_equals_convolution():
    # Seed paper eq. 8: for constant (delta, A, B, C) the recurrence is a causal convolution with
    # K = (C B_bar, C A_bar B_bar, C A_bar^2 B_bar, ...).
    g = torch.Generator().manual_seed(1)
    E, N, L = 6, 5, 40
    A = -torch.rand(E, N, generator=g) * 2 - 0.05
    B, C = torch.randn(E, N, generator=g), torch.randn(E, N, generator=g)
    step = torch.rand(E, generator=g) * 0.3 + 0.01
    u = torch.randn(3, E, L, generator=g)
    y_rec = selective_scan_ref(u, step[None, :, None].expand(3, E, L), A, B, C)
    y_conv = causal_conv(u, ssm_kernel(A, B, C, step, L))
    torch.testing.assert_close(y_conv, y_rec, atol=1e-5, rtol=1e-4)
    # and the first kernel taps are C B_bar and C A_bar B_bar
    Kr = ssm_kernel(A, B, C, step, 2)
    torch.testing.assert_close(Kr[:, 0], (C * step[:, None] * B).sum(1))
    torch.testing.assert_close(Kr[:, 1], (C * torch.exp(step[:, None] * A) * step[:, None] * B).sum(1))


def test_bad_shapes_raise():
    x = _inputs("grouped", E=8, G=3)
    with pytest.raises(ValueError, match="groups"):
        selective_scan(x["u"], x["delta"], x["A"], x["B"], x["C"])
    with pytest.raises(ValueError, match="complex"):
        selective_scan_ref(x["u"], x["delta"], x["A"].to(torch.complex64), x["B"], x["C"])


# mamba_ssm.modules.mamba_simple.Mamba(d_model=32): names and shapes of its state_dict (d_inner 64, dt_rank 2, N 16)
MAMBA_SSM_STATE_32 = {
    "in_proj.weight": (128, 32), "conv1d.weight": (64, 1, 4), "conv1d.bias": (64,), "x_proj.weight": (34, 64),
    "dt_proj.weight": (64, 2), "dt_proj.bias": (64,), "A_log": (64, 16), "D": (64,), "out_proj.weight": (32, 64),
}


def test_state_dict_layout_matches_mamba_ssm():
    m = Mamba(32)
    sd = m.state_dict()
    assert set(sd) == set(MAMBA_SSM_STATE_32) == set(PARAMETER_NAMES)  # order is irrelevant to load_state_dict
    assert {k: tuple(v.shape) for k, v in sd.items()} == MAMBA_SSM_STATE_32
    # a state_dict shaped like mamba_ssm's loads strictly, and the module then computes with it
    fake = {k: torch.randn(s) for k, s in MAMBA_SSM_STATE_32.items()}
    m2 = Mamba(32)
    m2.load_state_dict(fake, strict=True)
    torch.testing.assert_close(m2.A_log, fake["A_log"])
    assert m2.A_log.dtype == torch.float32 and m2.D.dtype == torch.float32


def test_initialisation_matches_mamba_ssm():
    torch.manual_seed(0)
    m = Mamba(64, d_state=8)
    assert m.d_inner == 128 and m.dt_rank == 4
    torch.testing.assert_close(m.A_log, torch.log(torch.arange(1, 9.0)).repeat(128, 1))
    torch.testing.assert_close(m.D, torch.ones(128))
    dt = F.softplus(m.dt_proj.bias)
    assert dt.min() >= 1e-3 * 0.999 and dt.max() <= 0.1 * 1.001
    bound = 4 ** -0.5
    assert m.dt_proj.weight.abs().max() <= bound
    assert m.in_proj.bias is None and m.out_proj.bias is None and m.conv1d.bias is not None


def test_mamba_block_forward_backward_and_path():
    torch.manual_seed(0)
    m = Mamba(16, d_state=4)
    x = torch.randn(2, 11, 16, requires_grad=True)
    y = m(x)
    assert y.shape == x.shape and m.last_path == "torch"
    y.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    # causal: changing the last input leaves earlier outputs unchanged
    x2 = x.detach().clone()
    x2[:, -1] += 1.0
    with torch.no_grad():
        torch.testing.assert_close(m(x2)[:, :-1], m(x.detach())[:, :-1])


def test_mamba_block_uses_sequential_definition():
    # the block's forward, written out with the sequential reference scan, gives the same output
    torch.manual_seed(0)
    m = Mamba(16, d_state=4)
    h = torch.randn(2, 9, 16)
    with torch.no_grad():
        x, z = m.in_proj(h).transpose(1, 2).chunk(2, dim=1)
        x = F.silu(m.conv1d(x)[..., :9])
        dt, Bm, Cm = m.ssm_params(x)
        y = selective_scan_ref(x, dt, -torch.exp(m.A_log), Bm, Cm, m.D, z=z, delta_bias=m.dt_proj.bias,
                               delta_softplus=True)
        torch.testing.assert_close(m(h), m.out_proj(y.transpose(1, 2)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_mamba_mhsa_contract(bidirectional):
    torch.manual_seed(0)
    blk = MambaMHSA(32, n_heads=4, num_mamba=2, dropout=0.0, d_state=4, bidirectional=bidirectional).eval()
    q = torch.randn(3, 7, 32)
    out = blk(q)
    assert out.shape == (3, 7, 32) and blk.last_path == "torch"
    # post-norm: every output token is layer-normalised
    torch.testing.assert_close(out.mean(-1), torch.zeros(3, 7), atol=1e-5, rtol=0)
    # padding at the end: the valid queries' outputs do not depend on what the padded ones hold (forward scan)
    mask = torch.zeros(3, 7, dtype=torch.bool)
    mask[:, 5:] = True
    q2 = q.clone()
    q2[:, 5:] = 100.0
    if not bidirectional:
        torch.testing.assert_close(blk(q, mask)[:, :5], blk(q2, mask)[:, :5], atol=1e-5, rtol=1e-5)
    names = {n.split(".")[0] for n, _ in blk.named_parameters()}
    assert names == {"mamba_norms", "mamba", "self_attn", "norm"} | ({"mamba_bwd"} if bidirectional else set())


def test_matches_mamba_ssm_on_cuda():
    """Same weights, same input: our block (PyTorch scan) and mamba_ssm's block (CUDA kernels)."""
    mamba_ssm = pytest.importorskip("mamba_ssm")
    if not torch.cuda.is_available():
        pytest.skip("mamba_ssm needs CUDA")
    from mamba_ssm.modules.mamba_simple import Mamba as RefMamba
    from mamba_ssm.ops.selective_scan_interface import selective_scan_ref as ssm_ref

    torch.manual_seed(0)
    ref = RefMamba(64, d_state=16).cuda()
    ours = Mamba(64, d_state=16).cuda()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 50, 64, device="cuda")
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-4, rtol=1e-4)
        assert ours.last_path == "cuda"
        ours.use_fast_path = False
        torch.testing.assert_close(ours(x), ref(x), atol=1e-4, rtol=1e-4)
        assert ours.last_path == "torch"
    xin = _inputs("input")
    args = [v.cuda() for v in (xin["u"], xin["delta"], xin["A"], xin["B"], xin["C"], xin["D"])]
    torch.testing.assert_close(selective_scan(*args, delta_softplus=True), ssm_ref(*args, delta_softplus=True),
                               atol=1e-5, rtol=1e-5)
    assert mamba_ssm is not None
