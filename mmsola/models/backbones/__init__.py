from .layout import LAYOUT_PRESETS, preset_layout, resolve_layout, sola_layout
from .sola_vision import (CheckpointMismatchError, ConvFFN, EarlyFeatureInjection, SoLABlock,
                          SoLAStage, SoLAVision)

__all__ = [
    'LAYOUT_PRESETS', 'preset_layout', 'resolve_layout', 'sola_layout', 'CheckpointMismatchError',
    'ConvFFN',
    'EarlyFeatureInjection', 'SoLABlock', 'SoLAStage', 'SoLAVision'
]
