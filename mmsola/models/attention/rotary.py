"""2-D rotary position encoding, computed for the runtime feature-map size.

Half of each head's rotation frequencies follow the row index and half the column index, so the
encoding has no learned table and works at any resolution.

The released MALA/RAVLT code rotates adjacent channel pairs ``(2i, 2i + 1)``; mmsola rotates
``(i, i + d/2)``, which needs no strided copies. The two compute the same attention once the
query and key channels of each head are permuted accordingly, which is what
``mmsola.models.converters`` does to their weights.
"""
from typing import Dict, Tuple

import torch
import torch.nn as nn

RotaryTable = Tuple[torch.Tensor, torch.Tensor]
#: Rules for the frequency exponents, see :class:`RotaryEmbedding2d`.
FREQ_EXPONENTS = ('arange', 'linspace')


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
        freq_exponents: with ``q = head_dim / 4`` frequencies per axis, ``'arange'`` uses
            ``base^(-k / q)`` for ``k = 0 .. q - 1`` (as 1-D rotary encoding), ``'linspace'``
            uses ``base^(-k / (q - 1))``, from 1 down to ``1 / base`` (MALA and RAVLT).
        cache_size: how many (size, device, dtype) tables to keep; one backbone stage sees one
            size per forward pass.
    """

    def __init__(self,
                 head_dim: int,
                 base: float = 10000.0,
                 freq_exponents: str = 'arange',
                 cache_size: int = 4) -> None:
        super().__init__()
        if head_dim % 4:
            raise ValueError(f'rotary encoding needs head_dim divisible by 4, got {head_dim}')
        if freq_exponents not in FREQ_EXPONENTS:
            raise ValueError(f'freq_exponents must be one of {FREQ_EXPONENTS}, '
                             f'got {freq_exponents!r}')
        self.head_dim = head_dim
        self.base = base
        self.freq_exponents = freq_exponents
        self.cache_size = cache_size
        self._cache: Dict[tuple, RotaryTable] = {}

    def extra_repr(self) -> str:
        return (f'head_dim={self.head_dim}, base={self.base:g}, '
                f'freq_exponents={self.freq_exponents!r}')

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
        if self.freq_exponents == 'linspace':
            exponents = torch.linspace(0, 1, quarter, device=device, dtype=torch.float64)
        else:
            exponents = torch.arange(quarter, device=device, dtype=torch.float64) / quarter
        inv_freq = self.base**(-exponents)
        rows = torch.arange(height, device=device, dtype=torch.float64)
        cols = torch.arange(width, device=device, dtype=torch.float64)
        row_angles = (rows[:, None] * inv_freq)[:, None, :].expand(height, width, quarter)
        col_angles = (cols[:, None] * inv_freq)[None, :, :].expand(height, width, quarter)
        half = torch.cat((row_angles, col_angles), dim=-1).reshape(height * width, 2 * quarter)
        angles = torch.cat((half, half), dim=-1)  # pairs (i, i + d/2) share an angle
        return angles.sin().to(dtype), angles.cos().to(dtype)
