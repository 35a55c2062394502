"""Attention cores on per-head tensors.

Every function takes ``q``, ``k``, ``v`` of shape (B, heads, N, d) and returns (B, heads, N, d).
The linear cores cost O(N d^2) and never build an N x N matrix; they run in float32 (or float64)
whatever the autocast dtype, because their sums over N overflow float16 at detection resolutions.
"""
from typing import Optional

import torch
import torch.nn.functional as F

from ..layers import records_no_graph
from .rotary import Rotation, as_rotation

LOG2_E = 1.4426950408889634


class _EluPlusOne(torch.autograd.Function):
    """phi(x) = exp2(min(x, 0) log2 e) + max(x, 0), saving only its output for the backward
    pass: phi'(x) = min(phi(x), 1) (e^x below zero, 1 above)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = torch.exp2(x.clamp(max=0) * LOG2_E).add_(torch.relu(x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out, = ctx.saved_tensors
        return grad * out.clamp(max=1.0)


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """The positive feature map phi(x) = elu(x) + 1 = exp(min(x, 0)) + max(x, 0).

    In eager mode exp is taken as exp2(x log2 e): torch's CPU ``elu`` goes through ``expm1``,
    which ran 17x slower than ``exp2`` on this project's AMD EPYC machine
    (docs/speed_and_memory.md); like ``elu``, only the output is kept for the backward pass.
    Traced for export, it is one ``Elu`` node plus one.
    """
    if torch.compiler.is_compiling():
        return F.elu(x) + 1.0
    return _EluPlusOne.apply(x)


def _at_least_float32(*tensors: torch.Tensor):
    """Half-precision tensors upcast to float32, float32 and float64 unchanged; all contiguous
    (every later elementwise op then runs on dense memory, every product without a copy)."""
    return tuple((t.float() if t.element_size() < 4 else t).contiguous() for t in tensors)


#: How linear attention with rotary encoding normalises its rotated query-key products:
#: ``'pair_norm'`` bounds them (mmsola's choice), ``'unrotated'`` divides by the sum of the
#: unrotated products, as the released MALA and RAVLT code does.
NORMALISERS = ('pair_norm', 'unrotated')


def check_normaliser(normaliser: str) -> str:
    """Return ``normaliser`` if it is one of :data:`NORMALISERS`, else raise naming the field."""
    if normaliser not in NORMALISERS:
        raise ValueError(f'normaliser must be one of {NORMALISERS}, got {normaliser!r}')
    return normaliser


def linear_attention_normaliser(q: torch.Tensor, k: torch.Tensor,
                                rotary: Optional[Rotation],
                                normaliser: str = 'pair_norm') -> torch.Tensor:
    """Normaliser (B, h, N, 1) of linear attention on positive features ``q``, ``k`` (B, h, N, d).

    Without rotary encoding (and with ``normaliser='unrotated'``) it is ``q_i . mean_m k_m``,
    the mean of the unrotated products. With rotary encoding that mean is no bound on the
    rotated products it divides: rotation mixes each pair's two features, so
    ``rot(q_i) . rot(k_j)`` stays large while ``q_i . k_j`` is near zero (a query whose weight
    sits on the features that keys leave near zero), and the weights are unbounded.
    ``'pair_norm'`` divides by the pair-norm product instead, which bounds every rotated product,
    so the weights' absolute values sum to at most one; it equals ``q_i . mean_m k_m`` when the
    two features of every pair agree.
    """
    rotation = as_rotation(rotary)
    if rotation is None or check_normaliser(normaliser) == 'unrotated':
        return q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1)
    return rotation.pair_norms(q) @ rotation.pair_norms(k).mean(
        dim=-2, keepdim=True).transpose(-2, -1)


def magnitude_aware_linear_attention(q: torch.Tensor,
                                     k: torch.Tensor,
                                     v: torch.Tensor,
                                     rotary: Optional[Rotation] = None,
                                     scale: Optional[float] = None,
                                     eps: float = 1e-6,
                                     normaliser: str = 'pair_norm') -> torch.Tensor:
    """Magnitude-aware linear attention (MALA) in O(N d^2).

    With phi = elu + 1, ``z_i = scale * phi(q_i) . mean_m phi(k_m)``, ``beta_i = 1 + 1 / z_i`` and
    ``gamma_i = z_i``, the weights are

        s_ij = (beta_i * scale * phi(q_i) . phi(k_j) - gamma_i) / N

    which sum to one while growing with the query's magnitude, unlike plain linear attention
    whose normalisation cancels it. With rotary encoding ``rot`` on the query-key products,
    ``beta_i = 1 + 1 / n_i`` with the scaled normaliser ``n_i`` of
    :func:`linear_attention_normaliser` (``z_i`` itself for ``normaliser='unrotated'``, MALA's
    released code); ``gamma_i`` stays ``z_i``. Evaluated as
    ``beta_i * scale * rot(phi(q_i)) @ (sum_j rot(phi(k_j))^T v_j / N) - gamma_i * mean_j v_j``.
    """
    out_dtype = v.dtype
    rotation = as_rotation(rotary)
    with torch.autocast(device_type=q.device.type, enabled=False):
        q, k, v = _at_least_float32(q, k, v)
        scale = q.shape[-1]**-0.5 if scale is None else scale
        num_tokens = k.shape[-2]
        q, k = elu_feature_map(q), elu_feature_map(k)
        z = scale * (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1))  # (B, h, N, 1)
        norm = z if rotation is None or normaliser == 'unrotated' else (
            scale * linear_attention_normaliser(q, k, rotation, normaliser))
        if rotation is not None:
            q, k = rotation.rotate(q), rotation.rotate(k)
        state = (k.transpose(-2, -1) @ v) * (scale / num_tokens)  # (B, h, d, d)
        out = q @ state
        beta = 1.0 + 1.0 / (norm + eps)
        if records_no_graph(out, z, v):
            out = out.mul_(beta).addcmul_(z, v.mean(dim=-2, keepdim=True), value=-1.0)
        else:
            out = beta * out - z * v.mean(dim=-2, keepdim=True)
    return out.to(out_dtype)


def _normalised_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 rotary: Optional[Rotation], normaliser: str,
                                 eps: float) -> torch.Tensor:
    """``rot(q_i) @ (sum_j rot(k_j)^T v_j / N) / (n_i + eps)`` on positive float features."""
    num_tokens = k.shape[-2]
    # Means instead of sums over N: the same ratio, with terms of order one.
    rotation = as_rotation(rotary)
    norm = linear_attention_normaliser(q, k, rotation, normaliser)  # (B, h, N, 1)
    if rotation is not None:
        q, k = rotation.rotate(q), rotation.rotate(k)
    state = (k.transpose(-2, -1) @ v) / num_tokens  # (B, h, d, d)
    out = q @ state
    return out.div_(norm + eps) if records_no_graph(out, norm) else out / (norm + eps)


def elu_linear_attention(q: torch.Tensor,
                         k: torch.Tensor,
                         v: torch.Tensor,
                         rotary: Optional[Rotation] = None,
                         eps: float = 1e-6,
                         normaliser: str = 'pair_norm') -> torch.Tensor:
    """Plain linear attention with phi = elu + 1, in O(N d^2).

    ``s_ij = rot(phi(q_i)) . rot(phi(k_j)) / (N n_i)`` with the normaliser ``n_i`` of
    :func:`linear_attention_normaliser`: ``phi(q_i) . mean_m phi(k_m)`` without rotary encoding,
    so the weights sum to one; with it and ``'pair_norm'``, a bound that keeps their absolute
    values' sum at most one.
    """
    out_dtype = v.dtype
    with torch.autocast(device_type=q.device.type, enabled=False):
        q, k, v = _at_least_float32(q, k, v)
        out = _normalised_linear_attention(elu_feature_map(q), elu_feature_map(k), v, rotary,
                                           normaliser, eps)
    return out.to(out_dtype)


def rank_augmented_linear_attention(q: torch.Tensor,
                                    k: torch.Tensor,
                                    v: torch.Tensor,
                                    rotary: Optional[Rotation] = None,
                                    scale: Optional[float] = None,
                                    eps: float = 1e-6,
                                    normaliser: str = 'unrotated') -> torch.Tensor:
    """Rank-augmented linear attention (RALA, the core of RAVLT) in O(N d^2).

    The keys are first reweighted by how much the whole image asks for them: with phi = elu + 1
    and the mean query ``q_bar = mean_i phi(q_i)``, ``alpha_j = softmax_j(scale * q_bar .
    phi(k_j))`` and ``k'_j = N alpha_j phi(k_j)``. Then it is normalised linear attention on
    ``phi(q)`` and ``k'`` (see :func:`elu_linear_attention`), by default with RAVLT's normaliser
    on the unrotated features.
    """
    out_dtype = v.dtype
    with torch.autocast(device_type=q.device.type, enabled=False):
        q, k, v = _at_least_float32(q, k, v)
        scale = q.shape[-1]**-0.5 if scale is None else scale
        q, k = elu_feature_map(q), elu_feature_map(k)
        mean_query = q.mean(dim=-2, keepdim=True)  # (B, h, 1, d)
        key_weights = torch.softmax(scale * (mean_query @ k.transpose(-2, -1)), dim=-1)
        k = k * (key_weights.transpose(-2, -1) * k.shape[-2])  # (B, h, N, d)
        out = _normalised_linear_attention(q, k, v, rotary, normaliser, eps)
    return out.to(out_dtype)


def softmax_attention(q: torch.Tensor,
                      k: torch.Tensor,
                      v: torch.Tensor,
                      rotary: Optional[Rotation] = None,
                      dropout_p: float = 0.0) -> torch.Tensor:
    """Global softmax attention through ``F.scaled_dot_product_attention`` (scale 1/sqrt(d))."""
    rotation = as_rotation(rotary)
    if rotation is not None:
        q, k = rotation.rotate(q), rotation.rotate(k)
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
