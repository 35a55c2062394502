"""Embedded data: deterministic generators of small datasets for every task and analysis."""
from .long_range import LONG_RANGE_TASKS, LongRangeSpec, draw_scene, generate_long_range
from .shapes import SHAPE_CLASSES, ShapesSpec, generate_shapes, validate_shapes

__all__ = [
    'SHAPE_CLASSES', 'ShapesSpec', 'generate_shapes', 'validate_shapes', 'LONG_RANGE_TASKS',
    'LongRangeSpec', 'draw_scene', 'generate_long_range'
]
