"""Measurement and analysis behind tools/analysis: FLOPs, ERF, EigenCAM, result tables and the
long-range benchmark."""
from .cam import eigen_cam, overlay, run_cam
from .erf import compute_erf, erf_radius, erf_stats, run_erf_analysis
from .flops import count_complexity, sdpa_flop_jit
from .model_builder import build_model_from_config, model_complexity
from .results_table import collect_runs, format_markdown, summarize_work_dir, write_metafile

__all__ = [
    'count_complexity', 'sdpa_flop_jit', 'build_model_from_config', 'model_complexity',
    'compute_erf', 'erf_radius', 'erf_stats', 'run_erf_analysis', 'eigen_cam', 'overlay',
    'run_cam', 'collect_runs', 'summarize_work_dir', 'format_markdown', 'write_metafile'
]
