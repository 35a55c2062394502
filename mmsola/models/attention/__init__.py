"""Attention kernels (functional cores), rotary encoding and the token-mixer modules."""
from .functional import (NORMALISERS, elu_feature_map, elu_linear_attention,
                         linear_attention_normaliser, magnitude_aware_linear_attention,
                         rank_augmented_linear_attention, softmax_attention)
from .mixers import (ELULinearAttention, MagnitudeAwareLinearAttention, NormalisedLinearMixer,
                     RankAugmentedLinearAttention, SoftmaxAttention, TokenMixer)
from .rotary import (FREQ_EXPONENTS, AdjacentPairRotation, RotaryEmbedding2d, RotaryTable,
                     apply_rotary, rotate_half)

__all__ = [
    'NORMALISERS', 'elu_feature_map', 'elu_linear_attention', 'linear_attention_normaliser',
    'magnitude_aware_linear_attention', 'rank_augmented_linear_attention', 'softmax_attention',
    'TokenMixer', 'NormalisedLinearMixer', 'MagnitudeAwareLinearAttention', 'ELULinearAttention',
    'RankAugmentedLinearAttention', 'SoftmaxAttention', 'FREQ_EXPONENTS', 'RotaryEmbedding2d',
    'RotaryTable', 'AdjacentPairRotation', 'apply_rotary', 'rotate_half'
]
