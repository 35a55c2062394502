"""Attention cores on per-head tensors.

Every function takes ``q``, ``k``, ``v`` of shape (B, heads, N, d) and returns (B, heads, N, d).
The linear cores cost O(N d^2) and never build an N x N matrix; they run in float32 (or float64)
whatever the autocast dtype, because their sums over N overflow float16 at detection resolutions.
"""
from typing import Optional

import torch
import torch.nn.functional as F

from .rotary import RotaryTable, apply_rotary


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """The positive feature map phi(x) = elu(x) + 1 of linear attention."""
    return F.elu(x) + 1.0


def _at_least_float32(*tensors: torch.Tensor):
    """Upcast half-precision tensors to float32; float32 and float64 pass unchanged."""
    return tuple(t.float() if t.element_size() < 4 else t for t in tensors)


def rotation_pair_norms(x: torch.Tensor) -> torch.Tensor:
    """Norms of the pairs ``(x_i, x_{i+d/2})`` that rotary encoding rotates: (..., d) -> (..., d/2).

    Rotary encoding turns each pair by an angle, so ``|rot(a) . rot(b)| <= pair_norms(a) .
    pair_norms(b)`` (Cauchy-Schwarz per pair), whatever the angles.
    """
    first, second = x.chunk(2, dim=-1)
    return (first.square() + second.square()).clamp_min(1e-12).sqrt()


def _rotated_normaliser(q: torch.Tensor, k: torch.Tensor,
                        rotary: Optional[RotaryTable]) -> torch.Tensor:
    """Normaliser (B, h, N, 1) of linear attention on positive features ``q``, ``k``.

    Without rotary encoding it is ``q_i . mean_m k_m``, the sum of the products it divides. With
    rotary encoding that sum is no bound: rotation mixes each pair's two features, so
    ``rot(q_i) . rot(k_j)`` stays large while ``q_i . k_j`` is near zero (a query whose weight sits
    on the features that keys leave near zero), and dividing by it gives unbounded weights. The
    pair-norm product bounds every rotated product, so the weights' absolute values sum to at
    most one; it equals ``q_i . mean_m k_m`` when the two features of every pair agree.
    """
    if rotary is None:
        return q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1)
    return rotation_pair_norms(q) @ rotation_pair_norms(k).mean(
        dim=-2, keepdim=True).transpose(-2, -1)


def magnitude_aware_linear_attention(q: torch.Tensor,
                                     k: torch.Tensor,
                                     v: torch.Tensor,
                                     rotary: Optional[RotaryTable] = None,
                                     scale: Optional[float] = None,
                                     eps: float = 1e-6) -> torch.Tensor:
    """Magnitude-aware linear attention (MALA) in O(N d^2).

    With phi = elu + 1, ``z_i = scale * phi(q_i) . mean_m phi(k_m)``, ``beta_i = 1 + 1 / z_i`` and
    ``gamma_i = z_i``, the weights are

        s_ij = (beta_i * scale * phi(q_i) . phi(k_j) - gamma_i) / N

    which sum to one while growing with the query's magnitude, unlike plain linear attention
    whose normalisation cancels it. With rotary encoding ``rot`` on the query-key products,
    ``beta_i = 1 + 1 / n_i`` with the bound ``n_i`` of :func:`_rotated_normaliser` (scaled), so
    that the weights stay bounded; ``gamma_i`` stays ``z_i``. Evaluated as
    ``beta_i * scale * rot(phi(q_i)) @ (sum_j rot(phi(k_j))^T v_j / N) - gamma_i * mean_j v_j``.
    """
    out_dtype = v.dtype
    with torch.autocast(device_type=q.device.type, enabled=False):
        q, k, v = _at_least_float32(q, k, v)
        scale = q.shape[-1]**-0.5 if scale is None else scale
        num_tokens = k.shape[-2]
        q, k = elu_feature_map(q), elu_feature_map(k)
        z = scale * (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1))  # (B, h, N, 1)
        normaliser = z if rotary is None else scale * _rotated_normaliser(q, k, rotary)
        if rotary is not None:
            q, k = apply_rotary(q, rotary), apply_rotary(k, rotary)
        state = (k.transpose(-2, -1) @ v) * (scale / num_tokens)  # (B, h, d, d)
        out = (1.0 + 1.0 / (normaliser + eps)) * (q @ state) - z * v.mean(dim=-2, keepdim=True)
    return out.to(out_dtype)


def elu_linear_attention(q: torch.Tensor,
                         k: torch.Tensor,
                         v: torch.Tensor,
                         rotary: Optional[RotaryTable] = None,
                         eps: float = 1e-6) -> torch.Tensor:
    """Plain linear attention with phi = elu + 1, in O(N d^2).

    ``s_ij = rot(phi(q_i)) . rot(phi(k_j)) / (N n_i)`` with the normaliser ``n_i`` of
    :func:`_rotated_normaliser`: ``phi(q_i) . mean_m phi(k_m)`` without rotary encoding, so the
    weights sum to one; with it, a bound that keeps their absolute values' sum at most one.
    """
    out_dtype = v.dtype
    with torch.autocast(device_type=q.device.type, enabled=False):
        q, k, v = _at_least_float32(q, k, v)
        num_tokens = k.shape[-2]
        q, k = elu_feature_map(q), elu_feature_map(k)
        # Means instead of sums over N: the same ratio, with terms of order one.
        normaliser = _rotated_normaliser(q, k, rotary)  # (B, h, N, 1)
        if rotary is not None:
            q, k = apply_rotary(q, rotary), apply_rotary(k, rotary)
        state = (k.transpose(-2, -1) @ v) / num_tokens  # (B, h, d, d)
        out = (q @ state) / (normaliser + eps)
    return out.to(out_dtype)


def softmax_attention(q: torch.Tensor,
                      k: torch.Tensor,
                      v: torch.Tensor,
                      rotary: Optional[RotaryTable] = None,
                      dropout_p: float = 0.0) -> torch.Tensor:
    """Global softmax attention through ``F.scaled_dot_product_attention`` (scale 1/sqrt(d))."""
    if rotary is not None:
        sin, cos = rotary
        rotary = (sin.to(q.dtype), cos.to(q.dtype))
        q, k = apply_rotary(q, rotary), apply_rotary(k, rotary)
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
