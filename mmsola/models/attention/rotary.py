"""2-D rotary position encoding, computed for the runtime feature-map size.

Half of each head's rotation frequencies follow the row index and half the column index, so the
encoding has no learned table and works at any resolution.
"""
from typing import Dict, Tuple

import torch
import torch.nn as nn

RotaryTable = Tuple[torch.Tensor, torch.Tensor]


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Map the pairs ``(x_i, x_{i+d/2})`` to ``(-x_{i+d/2}, x_i)`` along the last dim."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rotary(x: torch.Tensor, table: RotaryTable) -> torch.Tensor:
    """Rotate ``x`` of shape (..., N, d) by the angles of ``table`` = (sin, cos), each (N, d)."""
    sin, cos = table
    return x * cos + rotate_half(x) * sin


class RotaryEmbedding2d(nn.Module):
    """Builds the (sin, cos) tables of 2-D rotary encoding for an H x W grid.

    Args:
        head_dim: channels per attention head ``d``; must be divisible by 4 (two axes, and
            rotation pairs within each).
        base: the frequency base, as in 1-D rotary encoding.
        cache_size: how many (size, device, dtype) tables to keep; one backbone stage sees one
            size per forward pass.
    """

    def __init__(self, head_dim: int, base: float = 10000.0, cache_size: int = 4) -> None:
        super().__init__()
        if head_dim % 4:
            raise ValueError(f'rotary encoding needs head_dim divisible by 4, got {head_dim}')
        self.head_dim = head_dim
        self.base = base
        self.cache_size = cache_size
        self._cache: Dict[tuple, RotaryTable] = {}

    def extra_repr(self) -> str:
        return f'head_dim={self.head_dim}, base={self.base:g}'

    def forward(self, height: int, width: int, device: torch.device,
                dtype: torch.dtype = torch.float32) -> RotaryTable:
        """Return (sin, cos), each of shape (height * width, head_dim), row-major positions."""
        if torch.compiler.is_compiling():
            # torch.export / torch.compile (ONNX export): sizes may be symbolic, hence not
            # hashable, and a cached table would become a constant of the graph; build it there.
            return self._build(height, width, device, dtype)
        # Tables made under inference mode cannot be saved for a later backward pass.
        key = (height, width, device, dtype, torch.is_inference_mode_enabled())
        table = self._cache.get(key)
        if table is None:
            table = self._build(height, width, device, dtype)
            if len(self._cache) >= self.cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = table
        return table

    def _build(self, height: int, width: int, device: torch.device,
               dtype: torch.dtype) -> RotaryTable:
        quarter = self.head_dim // 4
        inv_freq = self.base**(-torch.arange(quarter, device=device, dtype=torch.float64) /
                               quarter)
        rows = torch.arange(height, device=device, dtype=torch.float64)
        cols = torch.arange(width, device=device, dtype=torch.float64)
        row_angles = (rows[:, None] * inv_freq)[:, None, :].expand(height, width, quarter)
        col_angles = (cols[:, None] * inv_freq)[None, :, :].expand(height, width, quarter)
        half = torch.cat((row_angles, col_angles), dim=-1).reshape(height * width, 2 * quarter)
        angles = torch.cat((half, half), dim=-1)  # pairs (i, i + d/2) share an angle
        return angles.sin().to(dtype), angles.cos().to(dtype)
