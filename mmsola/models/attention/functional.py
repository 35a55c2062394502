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


def magnitude_aware_linear_attention(q: torch.Tensor,
                                     k: torch.Tensor,
                                     v: torch.Tensor,
                                     rotary: Optional[RotaryTable] = None,
                                     scale: Optional[float] = None,
                                     eps: float = 1e-6) -> torch.Tensor:
    """Magnitude-aware linear attention (MALA) in O(N d^2).

    With phi = elu + 1, ``z_i = scale * phi(q_i) . mean_m phi(k_m)``, ``beta_i = 1 + 1 / z_i`` and
    ``gamma_i = z_i``, the weights are

        s_ij = (beta_i * scale * rot(phi(q_i)) . rot(phi(k_j)) - gamma_i) / N

    which sum to one over j (exactly so without rotary encoding) while growing with the query's
    magnitude, unlike plain linear attention whose normalisation cancels it. Rotary encoding
    ``rot`` enters the query-key products only, not ``z``. Evaluated as
    ``beta_i * scale * rot(phi(q_i)) @ (sum_j rot(phi(k_j))^T v_j / N) - gamma_i * mean_j v_j``.
    """
    out_dtype = v.dtype
    with torch.autocast(device_type=q.device.type, enabled=False):
        q, k, v = _at_least_float32(q, k, v)
        scale = q.shape[-1]**-0.5 if scale is None else scale
        num_tokens = k.shape[-2]
        q, k = elu_feature_map(q), elu_feature_map(k)
        z = scale * (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1))  # (B, h, N, 1)
        if rotary is not None:
            q, k = apply_rotary(q, rotary), apply_rotary(k, rotary)
        state = (k.transpose(-2, -1) @ v) * (scale / num_tokens)  # (B, h, d, d)
        out = (1.0 + 1.0 / (z + eps)) * (q @ state) - z * v.mean(dim=-2, keepdim=True)
    return out.to(out_dtype)


def elu_linear_attention(q: torch.Tensor,
                         k: torch.Tensor,
                         v: torch.Tensor,
                         rotary: Optional[RotaryTable] = None,
                         eps: float = 1e-6) -> torch.Tensor:
    """Plain linear attention with phi = elu + 1, in O(N d^2).

    ``s_ij = rot(phi(q_i)) . rot(phi(k_j)) / (phi(q_i) . sum_m phi(k_m))``: the normaliser is
    taken without rotary encoding, so the weights sum to one when ``rotary`` is None.
    """
    out_dtype = v.dtype
    with torch.autocast(device_type=q.device.type, enabled=False):
        q, k, v = _at_least_float32(q, k, v)
        num_tokens = k.shape[-2]
        q, k = elu_feature_map(q), elu_feature_map(k)
        # Means instead of sums over N: the same ratio, with terms of order one.
        normaliser = q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1)  # (B, h, N, 1)
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
