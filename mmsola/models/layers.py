"""Exact rewrites of block patterns that save a pass over the feature map (and memory).

* ``gamma * linear(x)`` (layer scale after a projection) is ``linear(x)`` with ``gamma`` folded
  into the weight and bias: the scaled map is never stored for gamma's gradient. With a
  residual and no autograd graph, the product is accumulated into the residual in place.
* ``x + depthwise_conv(x)`` (a residual depthwise convolution) is one convolution whose kernel
  has 1 added at its centre: no separate addition over the map.

* an activation of a fresh tensor (GELU) runs in place where autograd records nothing.

Each computes the same function and gradients as the written-out form (up to float rounding);
``tests/test_models/test_layers.py`` checks it.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


def records_no_graph(*tensors: torch.Tensor) -> bool:
    """Whether autograd records nothing through ``tensors``, so in-place updates are safe."""
    return not torch.is_grad_enabled() or not any(t.requires_grad for t in tensors)


def activate(act: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``act(x)``; a GELU of an ``x`` the caller owns runs in place where autograd records
    nothing (no new tensor of ``x``'s size)."""
    if isinstance(act, nn.GELU) and records_no_graph(x):
        return torch.ops.aten.gelu_(x, approximate=act.approximate)
    return act(x)


def scaled_linear(x: torch.Tensor, linear: nn.Linear, scale: Optional[torch.Tensor],
                  residual: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``residual + scale * linear(x)`` with ``scale`` (out_features,) folded into the weight;
    ``x`` (..., in), ``residual`` (..., out) or None.

    Where autograd records nothing, ``residual`` (a tensor the caller owns) receives the
    product in place, without a new output tensor or a separate addition.
    """
    weight = linear.weight if scale is None else linear.weight * scale[:, None]
    bias = linear.bias if scale is None or linear.bias is None else linear.bias * scale
    if residual is None:
        return F.linear(x, weight, bias)
    if (residual.is_contiguous() and x.dtype == residual.dtype == weight.dtype
            and not torch.is_autocast_enabled(x.device.type)
            and records_no_graph(x, weight, residual)):
        flat = residual.view(-1, residual.shape[-1])
        flat.addmm_(x.reshape(-1, x.shape[-1]), weight.t())
        if bias is not None:
            flat.add_(bias)
        return residual
    return residual + F.linear(x, weight, bias)


def residual_depthwise_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``x + conv(x)`` for a depthwise, odd-kernel, stride-1, 'same'-padded ``conv``; x (B, C, H, W)."""
    height, width = conv.kernel_size
    centre = conv.weight.new_ones(conv.weight.shape[0], 1, 1, 1)
    identity = F.pad(centre, (width // 2, width // 2, height // 2, height // 2))
    return F.conv2d(x, conv.weight + identity, conv.bias, conv.stride, conv.padding,
                    conv.dilation, conv.groups)
