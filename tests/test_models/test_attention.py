"""Attention cores against explicit O(N^2) references, and the mixers around them."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from mmsola.models.attention import (ELULinearAttention, MagnitudeAwareLinearAttention,
                                     RankAugmentedLinearAttention, RotaryEmbedding2d,
                                     SoftmaxAttention, apply_rotary, elu_linear_attention,
                                     magnitude_aware_linear_attention,
                                     rank_augmented_linear_attention, softmax_attention)


def phi(x):
    return F.elu(x) + 1


def pair_norms(x):
    d = x.shape[-1] // 2
    return torch.sqrt(x[..., :d]**2 + x[..., d:]**2)


def reference_normaliser(fq, fk, rotary, normaliser='pair_norm'):
    """Mean over keys of the unrotated products, or with rotary and 'pair_norm' of their
    pair-norm bound: (B, h, N, 1)."""
    if rotary and normaliser == 'pair_norm':
        fq, fk = pair_norms(fq), pair_norms(fk)
    return (fq @ fk.transpose(-2, -1)).mean(-1, keepdim=True)


def reference_mala(q, k, v, rotary, normaliser='pair_norm'):
    """Materialised weights s_ij = (beta_i * scale * rq_i . rk_j - gamma_i) / N, then s @ v."""
    n, d = k.shape[-2], k.shape[-1]
    scale = d**-0.5
    fq, fk = phi(q), phi(k)
    z = scale * (fq @ fk.transpose(-2, -1)).mean(-1, keepdim=True)  # (B, h, N, 1)
    beta = 1 + 1 / (scale * reference_normaliser(fq, fk, rotary, normaliser) + 1e-6)
    rq, rk = (apply_rotary(fq, rotary), apply_rotary(fk, rotary)) if rotary else (fq, fk)
    weights = (beta * scale * (rq @ rk.transpose(-2, -1)) - z) / n
    return weights @ v, weights


def reference_elu(q, k, v, rotary, normaliser='pair_norm', fk=None):
    fq, fk = phi(q), phi(k) if fk is None else fk
    norm = reference_normaliser(fq, fk, rotary, normaliser)
    rq, rk = (apply_rotary(fq, rotary), apply_rotary(fk, rotary)) if rotary else (fq, fk)
    weights = (rq @ rk.transpose(-2, -1)) / k.shape[-2] / (norm + 1e-6)
    return weights @ v, weights


def reference_rala(q, k, v, rotary, normaliser='unrotated'):
    """RAVLT: keys weighted by N softmax_j(scale * mean_i phi(q_i) . phi(k_j)), then normalised
    linear attention."""
    fq, fk = phi(q), phi(k)
    scores = fq.mean(-2, keepdim=True) @ fk.transpose(-2, -1) / q.shape[-1]**0.5  # (B, h, 1, N)
    key_weights = torch.softmax(scores, dim=-1).transpose(-2, -1) * k.shape[-2]
    return reference_elu(q, k, v, rotary, normaliser, fk=fk * key_weights)


def reference_softmax(q, k, v, rotary):
    if rotary:
        q, k = apply_rotary(q, rotary), apply_rotary(k, rotary)
    weights = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1]**0.5, dim=-1)
    return weights @ v, weights


CASES = [
    (magnitude_aware_linear_attention, reference_mala),
    (elu_linear_attention, reference_elu),
    (rank_augmented_linear_attention, reference_rala),
    (softmax_attention, reference_softmax),
]


def random_qkv(batch=2, heads=3, height=5, width=7, dims=8, scale=1.0):
    gen = torch.Generator().manual_seed(0)
    shape = (batch, heads, height * width, dims)
    return [(torch.randn(shape, generator=gen, dtype=torch.float64) * scale).requires_grad_()
            for _ in range(3)]


@pytest.mark.parametrize('use_rotary', [False, True])
@pytest.mark.parametrize('kernel,reference', CASES, ids=['mala', 'elu', 'rala', 'softmax'])
def test_kernel_matches_explicit_reference_fp64(kernel, reference, use_rotary):
    q, k, v = random_qkv()
    rotary = RotaryEmbedding2d(8)(5, 7, q.device, torch.float64) if use_rotary else None
    out = kernel(q, k, v, rotary)
    expected, _ = reference(q, k, v, rotary)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-10)
    grad_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), grad_out)
    expected_grads = torch.autograd.grad(expected, (q, k, v), grad_out)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize('normaliser', ['pair_norm', 'unrotated'])
@pytest.mark.parametrize('kernel,reference', CASES[:3], ids=['mala', 'elu', 'rala'])
def test_linear_kernels_with_either_normaliser_match_reference(kernel, reference, normaliser):
    q, k, v = random_qkv()
    rotary = RotaryEmbedding2d(8, freq_exponents='linspace')(5, 7, q.device, torch.float64)
    expected, _ = reference(q, k, v, rotary, normaliser)
    torch.testing.assert_close(kernel(q, k, v, rotary, normaliser=normaliser), expected,
                               rtol=1e-9, atol=1e-10)
    with pytest.raises(ValueError, match="normaliser must be one of .* got 'l2'"):
        kernel(q, k, v, rotary, normaliser='l2')


def test_the_two_normalisers_differ_only_under_rotary():
    q, k, v = random_qkv()
    rotary = RotaryEmbedding2d(8)(5, 7, q.device, torch.float64)
    for kernel in (magnitude_aware_linear_attention, elu_linear_attention):
        torch.testing.assert_close(kernel(q, k, v, normaliser='unrotated'), kernel(q, k, v))
        assert not torch.allclose(kernel(q, k, v, rotary, normaliser='unrotated'),
                                  kernel(q, k, v, rotary))


def test_rala_weights_favour_the_keys_the_mean_query_asks_for():
    q, k, v = random_qkv(batch=1, heads=1)
    _, plain = reference_elu(q, k, v, None)
    _, ranked = reference_rala(q, k, v, None)
    torch.testing.assert_close(ranked.sum(-1), torch.ones_like(ranked.sum(-1)))  # still sum to 1
    fq, fk = phi(q), phi(k)
    asked = (fq.mean(-2, keepdim=True) @ fk.transpose(-2, -1)).squeeze()  # (N,)
    gain = (ranked / plain).mean(-2).squeeze()  # how much more each key is attended
    # gain_j = N softmax_j(scale * asked_j) times a per-query constant: the same order
    assert torch.equal(gain.argsort(), asked.argsort())
    assert gain.max() > 2 * gain.min()


@pytest.mark.parametrize('reference', [reference_mala, reference_elu, reference_softmax])
def test_weights_sum_to_one_without_rotary(reference):
    q, k, v = random_qkv()
    _, weights = reference(q, k, v, None)
    torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)), rtol=1e-5,
                               atol=1e-5)


def test_rotary_linear_weights_stay_bounded_where_the_plain_normaliser_vanishes():
    """Queries on the first feature of each rotation pair, keys on the second: phi(q) . phi(k)
    is near zero, the rotated products are not. Dividing by the former made training diverge."""
    height, width, dims = 6, 6, 8
    big, small = torch.full((dims // 2, ), 3.0), torch.full((dims // 2, ), -12.0)
    q = torch.cat((big, small)).expand(1, 1, height * width, dims).double()
    k = torch.cat((small, big)).expand(1, 1, height * width, dims).double()
    v = torch.randn(1, 1, height * width, dims, dtype=torch.float64)
    rotary = RotaryEmbedding2d(dims)(height, width, q.device, torch.float64)
    fq, fk = phi(q), phi(k)
    rotated = apply_rotary(fq, rotary) @ apply_rotary(fk, rotary).transpose(-2, -1)
    unrotated_sum = (fq @ fk.transpose(-2, -1)).mean(-1, keepdim=True)
    assert (rotated.abs().mean(-1, keepdim=True) / unrotated_sum).max() > 1e3  # the trap
    _, weights = reference_elu(q, k, v, rotary)
    assert weights.abs().sum(-1).max() <= 1 + 1e-9
    out = elu_linear_attention(q, k, v, rotary)
    assert out.abs().max() <= v.abs().max() * (1 + 1e-9)
    _, mala_weights = reference_mala(q, k, v, rotary)
    # (1 + 1/n) n from the rotated products, plus the magnitude term gamma = z <= n
    bound = 1 + 2 * dims**-0.5 * reference_normaliser(fq, fk, rotary).squeeze(-1)
    assert (mala_weights.abs().sum(-1) <= bound * (1 + 1e-9)).all()
    torch.testing.assert_close(magnitude_aware_linear_attention(q, k, v, rotary),
                               mala_weights @ v, rtol=1e-9, atol=1e-10)


def test_mala_keeps_query_magnitude_where_plain_linear_cancels_it():
    q, k, v = random_qkv()
    with torch.no_grad():
        _, plain_small = reference_elu(q, k, v, None)
        _, plain_large = reference_elu(q * 4, k, v, None)
        _, mala_small = reference_mala(q, k, v, None)
        _, mala_large = reference_mala(q * 4, k, v, None)
    spread = lambda w: (w.amax(-1) - w.amin(-1)).mean()  # noqa: E731
    # a larger query sharpens MALA's weights more than plain linear attention's
    assert spread(mala_large) / spread(mala_small) > 1.5 * spread(plain_large) / spread(
        plain_small)


class LargestTensor(TorchDispatchMode):
    """Records the largest tensor any op produces."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out, ):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize(
    'kernel',
    [magnitude_aware_linear_attention, elu_linear_attention, rank_augmented_linear_attention])
def test_linear_kernels_never_build_an_n_by_n_matrix(kernel):
    num_tokens, dims = 64 * 64, 16
    q, k, v = (torch.randn(1, 1, num_tokens, dims, requires_grad=True) for _ in range(3))
    rotary = RotaryEmbedding2d(dims)(64, 64, q.device)
    with LargestTensor() as probe:
        kernel(q, k, v, rotary).sum().backward()
    assert probe.largest <= 4 * num_tokens * dims  # an N x N matrix would be 256x larger
    with LargestTensor() as probe:
        softmax_attention(q, k, v, rotary)
    assert probe.largest <= 4 * num_tokens * dims  # SDPA's fused kernel does not either


def test_softmax_mixer_calls_scaled_dot_product_attention(monkeypatch):
    calls = []
    original = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', spy)
    mixer = SoftmaxAttention(16, 2).eval()
    rotary = RotaryEmbedding2d(8)(4, 6, torch.device('cpu'))
    mixer(torch.randn(2, 4, 6, 16), rotary)
    assert calls == [torch.Size([2, 2, 24, 8])]


def test_rotary_encodes_relative_offsets_only():
    rope = RotaryEmbedding2d(8)
    sin, cos = rope(6, 6, torch.device('cpu'), torch.float64)
    q, k = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)

    def score(pos_q, pos_k):
        iq, ik = pos_q[0] * 6 + pos_q[1], pos_k[0] * 6 + pos_k[1]
        rq = apply_rotary(q[None], (sin[iq:iq + 1], cos[iq:iq + 1]))
        rk = apply_rotary(k[None], (sin[ik:ik + 1], cos[ik:ik + 1]))
        return (rq * rk).sum()

    torch.testing.assert_close(score((1, 2), (3, 1)), score((2, 4), (4, 3)))  # same offset
    assert not torch.allclose(score((1, 2), (3, 1)), score((1, 2), (1, 3)))  # other offset
    rotated = apply_rotary(q.expand(36, 8), (sin, cos))
    torch.testing.assert_close(rotated.norm(dim=-1), q.norm().expand(36))  # a rotation


def test_rotary_rejects_head_dims_not_divisible_by_four():
    with pytest.raises(ValueError, match='head_dim divisible by 4, got 6'):
        RotaryEmbedding2d(6)
    with pytest.raises(ValueError, match="freq_exponents must be one of .* got 'log'"):
        RotaryEmbedding2d(8, freq_exponents='log')


@pytest.mark.parametrize('rule,exponents', [('arange', [0, 0.25, 0.5, 0.75]),
                                            ('linspace', [0, 1 / 3, 2 / 3, 1])])
def test_rotary_frequency_rules(rule, exponents):
    """Row angles of position (1, 0) are the frequencies; columns follow the rows' quarter."""
    sin, cos = RotaryEmbedding2d(16, base=100.0, freq_exponents=rule)(2, 2, 'cpu', torch.float64)
    angles = torch.atan2(sin, cos)
    want = 100.0**-torch.tensor(exponents, dtype=torch.float64)
    torch.testing.assert_close(angles[2, :4], want)  # row 1, column 0: rows' frequencies
    torch.testing.assert_close(angles[1, 4:8], want)  # row 0, column 1: columns' frequencies
    torch.testing.assert_close(angles[:, :8], angles[:, 8:])  # pairs (i, i + d/2)


def test_linear_mixers_normaliser_option():
    assert MagnitudeAwareLinearAttention(16, 2).normaliser == 'pair_norm'
    assert RankAugmentedLinearAttention(16, 2).normaliser == 'unrotated'  # RAVLT's own
    assert 'unrotated' in repr(ELULinearAttention(16, 2, normaliser='unrotated'))
    with pytest.raises(ValueError, match="normaliser must be one of .* got 'bounded'"):
        MagnitudeAwareLinearAttention(16, 2, normaliser='bounded')


@pytest.mark.parametrize('mixer_cls', [
    MagnitudeAwareLinearAttention, ELULinearAttention, RankAugmentedLinearAttention,
    SoftmaxAttention
])
def test_mixer_shapes_and_head_check(mixer_cls):
    mixer = mixer_cls(32, 4)
    rotary = RotaryEmbedding2d(8)(5, 3, torch.device('cpu'))
    assert mixer(torch.randn(2, 5, 3, 32), rotary).shape == (2, 5, 3, 32)
    with pytest.raises(ValueError, match='embed_dims=30 is not divisible by num_heads=4'):
        mixer_cls(30, 4)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize(
    'kernel',
    [magnitude_aware_linear_attention, elu_linear_attention, rank_augmented_linear_attention])
def test_linear_kernels_reduce_in_float32_under_autocast(kernel, dtype):
    """Over 4096 tokens of values ~50, the key-value sums overflow float16; the core does not."""
    q, k, v = (x.detach().to(dtype) for x in random_qkv(1, 2, 64, 64, 16, scale=50.0))
    if dtype == torch.float16:
        naive_state = phi(k).transpose(-2, -1) @ v  # what a half-precision core would sum
        assert not torch.isfinite(naive_state).all()
    expected = kernel(q.double(), k.double(), v.double())
    with torch.autocast('cpu', dtype=dtype):
        out = kernel(q, k, v)
    assert out.dtype == dtype
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), expected, rtol=2e-2, atol=2e-2 * expected.abs().max())
