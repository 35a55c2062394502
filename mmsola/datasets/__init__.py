"""Embedded data: deterministic generators of small datasets for every task and analysis."""
from .long_range import BoardSpec, LongRangeBoards, draw_board
from .shapes import SHAPE_CLASSES, ShapesSpec, generate_shapes, validate_shapes

__all__ = [
    'SHAPE_CLASSES', 'ShapesSpec', 'generate_shapes', 'validate_shapes', 'BoardSpec',
    'LongRangeBoards', 'draw_board'
]
