"""Token mixers: one shared shell around interchangeable attention cores.

Every mixer of the backbone has the same surroundings, so that a layout letter changes only how
tokens attend to each other:

* one linear projection gives queries, keys, values and an output gate;
* 2-D rotary encoding on queries and keys (computed for the runtime H x W);
* a 5 x 5 depthwise convolution on the values added to the attention output (LePE);
* ``output = proj((attention + lepe) * gate)``.

Subclasses implement :meth:`TokenMixer.attend` only. Register a new one in ``mmsola.MODELS`` and
map a letter to it through the backbone's ``mixers`` argument.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmengine.model import BaseModule

from mmsola.registry import MODELS
from ..layers import records_no_graph, scaled_linear
from .functional import (check_normaliser, elu_linear_attention,
                         magnitude_aware_linear_attention, rank_augmented_linear_attention,
                         softmax_attention)
from .rotary import Rotation, RotaryTable, adjacent_pair_order, as_rotation


class TokenMixer(BaseModule):
    """Shared shell of the attention token mixers.

    Args:
        embed_dims: channels ``C``.
        num_heads: attention heads; ``C`` must be divisible by it.
        lepe_kernel_size: kernel of the depthwise convolution on the values.
        gate_act_cfg: activation applied to the output gate; ``None`` keeps it linear.
        qkv_bias: whether the q/k/v/gate projection has a bias.
        init_cfg: MMEngine initialisation config.

    Shapes:
        forward: ``x`` (B, H, W, C) channels-last, ``rotary`` a (sin, cos) pair of
        (H * W, C / num_heads) tables, or None, ``layer_scale`` (C,) or None (multiplies the
        output, folded into the output projection), ``residual`` (B, H, W, C) or None (added to
        the output; in place where autograd records nothing); returns (B, H, W, C).
    """

    #: True for mixers whose cost grows linearly with the number of tokens.
    is_linear: bool = True

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 lepe_kernel_size: int = 5,
                 gate_act_cfg: Optional[dict] = None,
                 qkv_bias: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'{type(self).__name__}: embed_dims={embed_dims} is not divisible '
                             f'by num_heads={num_heads}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.qkvg = nn.Linear(embed_dims, 4 * embed_dims, bias=qkv_bias)
        self.lepe = nn.Conv2d(
            embed_dims,
            embed_dims,
            lepe_kernel_size,
            padding=lepe_kernel_size // 2,
            groups=embed_dims)
        self.gate_act = build_activation_layer(gate_act_cfg) if gate_act_cfg else nn.Identity()
        self.proj = nn.Linear(embed_dims, embed_dims)
        # Eager mode projects queries and keys in adjacent rotation pairs (see rotary.py).
        self.register_buffer(
            'adjacent_pair_order', adjacent_pair_order(num_heads, self.head_dims), persistent=False)

    def extra_repr(self) -> str:
        return f'embed_dims={self.embed_dims}, num_heads={self.num_heads}'

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               rotary: Optional[Rotation]) -> torch.Tensor:
        """Attention core: (B, heads, N, d) each -> (B, heads, N, d)."""
        raise NotImplementedError

    def _project(self, x: torch.Tensor, rotary: Optional[Rotation]):
        """q/k/v/gate projection of ``x`` (B, N, C) -> (B, N, 4, heads, d), and the rotation
        that fits the order of its query and key channels.

        Rotating adjacent channel pairs is one complex product (fastest in eager mode), so
        there the projection's query and key rows are reordered into adjacent pairs; under
        tracing (ONNX export) the weights and the real-valued rotation stay as they are.
        """
        rotation = as_rotation(rotary)
        weight, bias = self.qkvg.weight, self.qkvg.bias
        if isinstance(rotation, RotaryTable) and not torch.compiler.is_compiling():
            weight = weight.index_select(0, self.adjacent_pair_order)
            bias = None if bias is None else bias.index_select(0, self.adjacent_pair_order)
            rotation = rotation.adjacent_pairs()
        qkvg = F.linear(x, weight, bias)
        return qkvg.view(*x.shape[:-1], 4, self.num_heads, self.head_dims), rotation

    def forward(self,
                x: torch.Tensor,
                rotary: Optional[Rotation] = None,
                layer_scale: Optional[torch.Tensor] = None,
                residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        batch, height, width, channels = x.shape
        qkvg, rotation = self._project(x.reshape(batch, height * width, channels), rotary)
        q, k, v, gate = qkvg.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, d)
        attended = self.attend(q, k, v, rotation).transpose(1, 2)  # (B, N, heads, d)
        # (B, heads, N, d) -> (B, C, H, W) as a view in channels-last memory, for the conv.
        v_map = v.transpose(1, 2).reshape(batch, height, width, channels).permute(0, 3, 1, 2)
        lepe = self.lepe(v_map).permute(0, 2, 3, 1).reshape(batch, -1, self.num_heads,
                                                             self.head_dims)
        gate = self.gate_act(qkvg[:, :, 3])  # (B, N, heads, d)
        if records_no_graph(lepe, attended, gate):  # lepe is a fresh tensor: sum and gate in place
            mixed = lepe.add_(attended).mul_(gate)
        else:
            mixed = (attended + lepe) * gate
        return scaled_linear(mixed.reshape(batch, height, width, channels), self.proj,
                             layer_scale, residual)


class NormalisedLinearMixer(TokenMixer):
    """Shell of the linear-attention mixers, with the choice of normaliser under rotary encoding.

    Args:
        normaliser: ``'pair_norm'`` (bounded weights) or ``'unrotated'`` (the released MALA and
            RAVLT code); see
            :func:`~mmsola.models.attention.functional.linear_attention_normaliser`.
        **kwargs: see :class:`TokenMixer`.
    """

    default_normaliser = 'pair_norm'

    def __init__(self, *args, normaliser: Optional[str] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.normaliser = check_normaliser(normaliser or self.default_normaliser)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, normaliser={self.normaliser!r}'


@MODELS.register_module()
class MagnitudeAwareLinearAttention(NormalisedLinearMixer):
    """Magnitude-aware linear attention (MALA), O(N): the default ``L`` layer of SoLA-Vision.

    See :func:`~mmsola.models.attention.functional.magnitude_aware_linear_attention`.
    """

    def attend(self, q, k, v, rotary):
        return magnitude_aware_linear_attention(q, k, v, rotary, normaliser=self.normaliser)


@MODELS.register_module()
class ELULinearAttention(NormalisedLinearMixer):
    """Plain linear attention with phi = elu + 1, O(N): the ``E`` layer, for ablations."""

    def attend(self, q, k, v, rotary):
        return elu_linear_attention(q, k, v, rotary, normaliser=self.normaliser)


@MODELS.register_module()
class RankAugmentedLinearAttention(NormalisedLinearMixer):
    """Rank-augmented linear attention (RALA, the core of RAVLT), O(N): the ``R`` layer.

    Keys are reweighted by a softmax of their products with the mean query before normalised
    linear attention; see
    :func:`~mmsola.models.attention.functional.rank_augmented_linear_attention`. The normaliser
    defaults to RAVLT's own (``'unrotated'``).
    """

    default_normaliser = 'unrotated'

    def attend(self, q, k, v, rotary):
        return rank_augmented_linear_attention(q, k, v, rotary, normaliser=self.normaliser)


@MODELS.register_module()
class SoftmaxAttention(TokenMixer):
    """Global softmax attention over all tokens, O(N^2): the ``S`` layer.

    Args:
        attn_drop: dropout on the attention weights while training.
        **kwargs: see :class:`TokenMixer`.
    """

    is_linear = False

    def __init__(self, *args, attn_drop: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.attn_drop = attn_drop

    def attend(self, q, k, v, rotary):
        return softmax_attention(q, k, v, rotary, self.attn_drop if self.training else 0.0)
