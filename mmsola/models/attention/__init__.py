"""Attention kernels (functional cores), rotary encoding and the token-mixer modules."""
from .functional import (elu_feature_map, elu_linear_attention,
                         magnitude_aware_linear_attention, softmax_attention)
from .mixers import (ELULinearAttention, MagnitudeAwareLinearAttention, SoftmaxAttention,
                     TokenMixer)
from .rotary import RotaryEmbedding2d, apply_rotary, rotate_half

__all__ = [
    'elu_feature_map', 'elu_linear_attention', 'magnitude_aware_linear_attention',
    'softmax_attention', 'TokenMixer', 'MagnitudeAwareLinearAttention', 'ELULinearAttention',
    'SoftmaxAttention', 'RotaryEmbedding2d', 'apply_rotary', 'rotate_half'
]
