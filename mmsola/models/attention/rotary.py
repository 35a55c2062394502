"""2-D rotary position encoding, computed for the runtime feature-map size.

Half of each head's rotation frequencies follow the row index and half the column index, so the
encoding has no learned table and works at any resolution.

A head's channels form rotation pairs. :class:`RotaryTable` pairs ``(i, i + d/2)``, the order of
mmsola's weights, and rotates with real-valued products (what ONNX export traces).
:class:`AdjacentPairRotation` pairs ``(2i, 2i + 1)`` and rotates with one complex product per
tensor; the mixers use it in eager mode, after reordering the query and key output channels of
their projection (attention is unchanged by one permutation applied to both queries and keys).
The released MALA/RAVLT code also rotates adjacent pairs; ``mmsola.models.converters`` permutes
their weights to mmsola's order.
"""
from typing import Dict, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn as nn

#: Rules for the frequency exponents, see :class:`RotaryEmbedding2d`.
FREQ_EXPONENTS = ('arange', 'linspace')


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Map the pairs ``(x_i, x_{i+d/2})`` to ``(-x_{i+d/2}, x_i)`` along the last dim."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class RotaryTable(NamedTuple):
    """Rotation angles of the pairs ``(i, i + d/2)``: ``sin`` and ``cos``, each (N, d).

    Unpacks as ``sin, cos``. :meth:`rotate` and :meth:`pair_norms` take (..., N, d).
    """
    sin: torch.Tensor
    cos: torch.Tensor

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` rotated pair by pair, in ``x``'s dtype."""
        sin, cos = self.sin.to(x.dtype), self.cos.to(x.dtype)
        return x * cos + rotate_half(x) * sin

    @staticmethod
    def pair_norms(x: torch.Tensor) -> torch.Tensor:
        """Norms of the pairs ``(x_i, x_{i+d/2})``: (..., d) -> (..., d/2).

        Rotation turns each pair by an angle, so ``|rot(a) . rot(b)| <= pair_norms(a) .
        pair_norms(b)`` (Cauchy-Schwarz per pair), whatever the angles.
        """
        first, second = x.chunk(2, dim=-1)
        return (first.square() + second.square()).clamp_min(1e-12).sqrt()

    def adjacent_pairs(self) -> 'AdjacentPairRotation':
        """The same angles for channels ordered in adjacent pairs (see :func:`adjacent_pair_order`)."""
        half = self.cos.shape[-1] // 2
        return AdjacentPairRotation(torch.complex(self.cos[:, :half], self.sin[:, :half]))


class AdjacentPairRotation(NamedTuple):
    """Rotation of the pairs ``(2i, 2i + 1)`` by ``phase`` = cos + i sin, complex (N, d/2).

    :meth:`rotate` is one complex product (float32 or float64; half precision is upcast and cast
    back). :meth:`pair_norms` takes (..., N, d).
    """
    phase: torch.Tensor

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (..., N, d) rotated pair by pair, in ``x``'s dtype."""
        work = x if x.element_size() >= 4 else x.float()
        pairs = torch.view_as_complex(work.unflatten(-1, (-1, 2)).contiguous()
                                      if work.stride(-1) != 1 else work.unflatten(-1, (-1, 2)))
        phase = self.phase if work.dtype == torch.float32 else self.phase.to(torch.complex128)
        return torch.view_as_real(pairs * phase).flatten(-2).to(x.dtype)

    @staticmethod
    def pair_norms(x: torch.Tensor) -> torch.Tensor:
        """Norms of the pairs ``(x_{2i}, x_{2i+1})``: (..., d) -> (..., d/2)."""
        return _AdjacentPairNorms.apply(x)


class _AdjacentPairNorms(torch.autograd.Function):
    """``sqrt(max(x_{2i}^2 + x_{2i+1}^2, 1e-12))``, keeping only its input and output for the
    backward pass (tensors the attention keeps anyway)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        squares = x.square()
        norms = (squares[..., 0::2] + squares[..., 1::2]).clamp_min_(1e-12).sqrt_()
        ctx.save_for_backward(x, norms)
        return norms

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        x, norms = ctx.saved_tensors
        # d norm / d x = x / norm, zero where the clamp held (norm^2 at its floor 1e-12)
        scale = torch.where(norms > 1e-6, grad / norms, torch.zeros_like(norms))
        return (x.unflatten(-1, (-1, 2)) * scale.unsqueeze(-1)).flatten(-2)


#: What the attention kernels accept as ``rotary``: a table, or a ``(sin, cos)`` pair of
#: (N, d) tensors for the pairs ``(i, i + d/2)``.
Rotation = Union[RotaryTable, AdjacentPairRotation, Sequence[torch.Tensor]]


def as_rotation(rotary: Optional[Rotation]) -> Optional[Union[RotaryTable, AdjacentPairRotation]]:
    """``rotary`` as an object with ``rotate`` and ``pair_norms``; a plain pair becomes a table."""
    if rotary is None or isinstance(rotary, (RotaryTable, AdjacentPairRotation)):
        return rotary
    return RotaryTable(*rotary)


def apply_rotary(x: torch.Tensor, table: Rotation) -> torch.Tensor:
    """Rotate ``x`` of shape (..., N, d) by the angles of ``table``."""
    return as_rotation(table).rotate(x)


def adjacent_pair_order(num_heads: int, head_dims: int, num_blocks: int = 4,
                        rotated_blocks: int = 2) -> torch.Tensor:
    """Output-channel order that makes a projection to ``num_blocks`` blocks of (heads, d)
    (queries, keys, ...) give its first ``rotated_blocks`` blocks in adjacent-pair order.

    Returns a (num_blocks * num_heads * head_dims,) index: channel ``2i`` of a head takes the
    old channel ``i``, ``2i + 1`` the old ``i + d/2``.
    """
    half = head_dims // 2
    within_head = torch.stack((torch.arange(half), torch.arange(half) + half), dim=1).flatten()
    order = torch.arange(num_blocks * num_heads * head_dims).view(num_blocks, num_heads, head_dims)
    order[:rotated_blocks] = order[:rotated_blocks][..., within_head]
    return order.flatten()


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
        return RotaryTable(angles.sin().to(dtype), angles.cos().to(dtype))
