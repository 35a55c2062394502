"""The benchmark's ONNX Runtime option: exported peers timed in the same rounds as eager ones."""
import pytest

from mmsola.analysis.benchmark import markdown_table, measure_backbones

from .conftest import load_tool

TINY_SOLA = dict(type='mmsola.SoLAVision', layout='L,L,LS,S',
                 arch=dict(embed_dims=[8, 16, 32, 64], depths=[1, 1, 2, 1], num_heads=[1, 1, 2, 2]))
BENCHMARK_TOOL = load_tool('analysis_tools', 'benchmark.py')


def test_onnx_runtime_rows_next_to_eager_ones(tmp_path):
    results = measure_backbones({'tiny': TINY_SOLA}, [(2, 64, 96)], warmup=1, rounds=2,
                                measure_memory=False, onnxruntime=True, export_dir=str(tmp_path),
                                log=lambda line: None)
    eager, ort = results['rows']
    assert (eager['runtime'], ort['runtime']) == ('eager', 'onnxruntime')
    assert ort['model'] == eager['model'] == 'tiny' and ort['shape'] == [2, 64, 96]
    assert ort['latency_s']['median'] > 0 and ort['export_s'] > 0
    assert ort['max_abs_diff'] < 1e-4  # the ORT session computes what the eager model does
    assert (tmp_path / 'tiny_2x64x96.onnx').is_file()
    table = markdown_table(results)
    assert '| tiny | 2x64x96 |' in table and '| tiny (ORT) | 2x64x96 |' in table

    results['rows'].append(dict(eager, model='ref', latency_s=dict(eager['latency_s'])))
    results['rows'].append(dict(ort, model='ref', latency_s=dict(median=2 * ort['latency_s'][
        'median'])))
    ratios = BENCHMARK_TOOL.ratio_lines(results, 'ref')
    assert any(line.startswith('- tiny (ORT) / ref (ORT), infer 2x64x96: throughput 2.00')
               for line in ratios), ratios
    assert any(line.startswith('- tiny / ref, infer 2x64x96: throughput 1.00') for line in ratios)
    speedups = BENCHMARK_TOOL.onnxruntime_lines(results)
    expected = eager['latency_s']['median'] / ort['latency_s']['median']
    assert f'- tiny, infer 2x64x96: throughput ORT / eager {expected:.2f}' in speedups[3]


def test_onnx_runtime_runs_are_cpu_float32_only():
    import torch
    with pytest.raises(ValueError, match='CPU float32 only'):
        measure_backbones({'tiny': TINY_SOLA}, [(1, 64, 64)], dtype=torch.bfloat16,
                          onnxruntime=True)
