"""Measurement helpers behind tools/analysis: FLOP counting with attention handles."""
from .flops import count_complexity, sdpa_flop_jit

__all__ = ['count_complexity', 'sdpa_flop_jit']
