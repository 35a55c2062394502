"""Exact rewrites of two block patterns that save a pass over the feature map (and memory).

* ``gamma * linear(x)`` (layer scale after a projection) is ``linear(x)`` with ``gamma`` folded
  into the weight and bias: the scaled map is never stored for gamma's gradient.
* ``x + depthwise_conv(x)`` (a residual depthwise convolution) is one convolution whose kernel
  has 1 added at its centre: no separate addition over the map.

Both compute the same function and gradients as the written-out form (up to float rounding);
``tests/test_models/test_layers.py`` checks it.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled_linear(x: torch.Tensor, linear: nn.Linear,
                  scale: Optional[torch.Tensor]) -> torch.Tensor:
    """``scale * linear(x)`` with ``scale`` (out_features,) folded into the weight; ``x`` (..., in)."""
    if scale is None:
        return linear(x)
    bias = None if linear.bias is None else linear.bias * scale
    return F.linear(x, linear.weight * scale[:, None], bias)


def residual_depthwise_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``x + conv(x)`` for a depthwise, odd-kernel, stride-1, 'same'-padded ``conv``; x (B, C, H, W)."""
    height, width = conv.kernel_size
    centre = conv.weight.new_ones(conv.weight.shape[0], 1, 1, 1)
    identity = F.pad(centre, (width // 2, width // 2, height // 2, height // 2))
    return F.conv2d(x, conv.weight + identity, conv.bias, conv.stride, conv.padding,
                    conv.dilation, conv.groups)
