"""Embedded data: a deterministic generator of small shape datasets for every task."""
from .shapes import SHAPE_CLASSES, ShapesSpec, generate_shapes, validate_shapes

__all__ = ['SHAPE_CLASSES', 'ShapesSpec', 'generate_shapes', 'validate_shapes']
