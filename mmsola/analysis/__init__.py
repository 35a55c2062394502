"""Measurement and analysis behind tools/analysis_tools and tools/visualization: FLOPs, speed
and memory, ERF, EigenCAM and the long-range benchmark. Models come from
:mod:`mmsola.apis`."""
from .cam import eigen_cam, principal_projection, run_cam
from .erf import compute_erf, erf_radius, run_erf_analysis
from .files import latest_run_scalars, list_images
from .flops import DEFAULT_SHAPES, count_complexity, model_complexity, sdpa_flop_jit
from .long_range import run_long_range_study

__all__ = [
    'DEFAULT_SHAPES', 'list_images', 'latest_run_scalars', 'count_complexity',
    'model_complexity', 'sdpa_flop_jit', 'compute_erf', 'erf_radius', 'run_erf_analysis',
    'eigen_cam', 'principal_projection', 'run_cam', 'run_long_range_study'
]
