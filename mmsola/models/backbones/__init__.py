from .layout import LAYOUT_PRESETS, preset_layout, resolve_layout, sola_layout
from .sola_vision import ConvFFN, EarlyFeatureInjection, SoLABlock, SoLAStage, SoLAVision

__all__ = [
    'LAYOUT_PRESETS', 'preset_layout', 'resolve_layout', 'sola_layout', 'ConvFFN',
    'EarlyFeatureInjection', 'SoLABlock', 'SoLAStage', 'SoLAVision'
]
