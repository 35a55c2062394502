"""The side-by-side benchmark on a tiny setting: every peer builds, rows and reports appear."""
import argparse
import json
import os
import subprocess
import sys

import pytest
import torch

from mmsola.analysis import benchmark
from mmsola.analysis.benchmark import (MEMORY_PROBE_ENV, build_backbone, latency_statistics,
                                       largest_global_attention, peak_memory_cpu)
from mmsola.utils.cli import input_shape

#: A SoLA-Vision small enough for a memory probe in a few seconds.
TINY_SOLA = dict(type='mmsola.SoLAVision', layout='L,L,LS,L', early_fusion=False,
                 arch=dict(embed_dims=[8, 16, 32, 64], depths=[1, 1, 2, 1], num_heads=[1, 1, 2, 2]))


def _load_tool(repo_root):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', os.path.join(repo_root, 'tools', 'analysis_tools', 'benchmark.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_every_peer_builds_from_its_registry(repo_root):
    for name, cfg in _load_tool(repo_root).BACKBONES.items():
        model = build_backbone(cfg)
        assert sum(p.numel() for p in model.parameters()) > 1e6, name


def test_summary_statistics():
    stats = latency_statistics([3.0, 1.0, 2.0, 10.0])
    assert stats['median'] == 2.5 and stats['min'] == 1.0 and stats['max'] == 10.0
    assert stats['q1'] <= stats['median'] <= stats['q3']


def test_benchmark_tool_writes_json_table_and_plot(repo_root, tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(repo_root, 'tools', 'analysis_tools', 'benchmark.py'),
         '--models', 'sola-t', 'sola-t-softmax', 'convnext-t', '--shapes', '1x64x64',
         '1x512x512', '--modes', 'infer', '--rounds', '2', '--warmup', '1',
         '--max-global-tokens', '1000', '--reference', 'convnext-t', '--out-dir', str(tmp_path)],
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / 'results.json').read_text())
    measured = [r for r in results['rows'] if not r.get('skipped')]
    skipped = [r for r in results['rows'] if r.get('skipped')]
    assert {r['model'] for r in measured} == {'sola-t', 'sola-t-softmax', 'convnext-t'}
    assert all(r['latency_s']['median'] > 0 for r in measured)
    memory = {(r['model'], tuple(r['shape'])): r['peak_memory_mib'] for r in measured}
    # activations of a 512 x 512 ConvNeXt-T pass: tens of MiB, and more than at 64 x 64
    assert memory[('convnext-t', (1, 512, 512))] > 10
    assert memory[('convnext-t', (1, 512, 512))] > memory[('convnext-t', (1, 64, 64))]
    # 512 x 512 puts 32 x 32 = 1024 tokens in the default layout's global layers (stage 3)
    assert {r['model'] for r in skipped} == {'sola-t', 'sola-t-softmax'}
    assert results['matmul_gflops'] > 0
    assert all(r['gflops'] > 0 for r in measured if r['shape'] == [1, 64, 64])
    assert (tmp_path / 'results.png').stat().st_size > 1000
    report = (tmp_path / 'results.md').read_text()
    assert '| sola-t | 1x64x64 |' in report and 'sola-t / convnext-t, infer 1x64x64: ' in report
    assert 'target' not in report  # measurements only, no project goals


def test_ratios_to_the_reference_are_plain_numbers(repo_root):
    def row(model, shape, seconds, memory=None, mode='infer'):
        return dict(model=model, shape=list(shape), mode=mode, peak_memory_mib=memory,
                    latency_s=dict(median=seconds))

    results = dict(rows=[
        row('sola-t', (8, 224, 224), 1.0, 300), row('swin-t', (8, 224, 224), 1.5, 400),
        row('sola-t', (1, 2048, 2048), 9.0),
        row('sola-t-recompute', (2, 800, 1280), 9.0, 400, 'train'),
        row('swin-t', (2, 800, 1280), 9.0, 800, 'train'),
    ])
    lines = _load_tool(repo_root).ratio_lines(results, 'swin-t')
    assert '- sola-t / swin-t, infer 8x224x224: throughput 1.50, peak memory 0.75' in lines
    assert '- sola-t-recompute / swin-t, train 2x800x1280: throughput 1.00, peak memory 0.50' \
        in lines
    assert not any('2048' in line or 'target' in line for line in lines)


def test_global_attention_size_is_read_from_the_built_model():
    # a custom depth and layout: softmax in stage 1 at (100, 130) -> stem of stride 4 -> 25 x 33
    model = build_backbone(dict(TINY_SOLA, layout='S,L,LL,L'))
    assert largest_global_attention(model, 100, 130) == 25 * 33
    model = build_backbone(TINY_SOLA)
    assert largest_global_attention(model, 100, 130) == 7 * 9  # stage 3, stride 16
    model.out_indices = (2, )
    model.add_module('norm2', torch.nn.LayerNorm(32))
    with torch.no_grad():
        stage3 = model(torch.randn(1, 3, 100, 130))[0]
    assert stage3.shape[-2] * stage3.shape[-1] == 7 * 9
    assert largest_global_attention(build_backbone(dict(TINY_SOLA, layout='linear')), 99, 99) == 0
    tiny = build_backbone(dict(type='mmsola.SoLAVision', arch='tiny'))
    assert largest_global_attention(tiny, 800, 1280) == 50 * 80
    swin = build_backbone(dict(type='mmpretrain.SwinTransformer', arch='tiny'))
    assert largest_global_attention(swin, 800, 1280) == 0


def test_memory_probe_is_a_function_run_in_a_fresh_process(monkeypatch):
    calls = []
    real_run = subprocess.run

    def spy(command, **kwargs):
        calls.append((command, kwargs['env']))
        return real_run(command, **kwargs)

    monkeypatch.setattr(benchmark.subprocess, 'run', spy)
    peak = peak_memory_cpu(TINY_SOLA, (2, 128, 128), 'train', 1)
    (command, env), = calls
    assert command[1:3] == ['-m', 'mmsola.analysis.benchmark']
    assert env['MALLOC_MMAP_THRESHOLD_'] == MEMORY_PROBE_ENV['MALLOC_MMAP_THRESHOLD_']
    # a training step of 2 x 16 x 64 x 64 stem maps and more: above 1 MiB, far below 1 GiB
    assert 1 < peak < 1024


@pytest.mark.parametrize('text', ['0x224x224', '1x224', 'axbxc', '1x-3x4'])
def test_input_shape_type_names_what_a_shape_must_be(text):
    with pytest.raises(argparse.ArgumentTypeError, match='BATCHxHEIGHTxWIDTH with three positive'):
        input_shape(text)
    assert input_shape('2X97x131') == (2, 97, 131)


def test_benchmark_refuses_a_bad_shape_naming_the_option(repo_root):
    """The benchmark and the ONNX exporter share one argparse type (mmsola.utils.cli)."""
    out = subprocess.run(
        [sys.executable, os.path.join(repo_root, 'tools', 'analysis_tools', 'benchmark.py'),
         '--shapes', '0x224x224'], capture_output=True, text=True)
    assert out.returncode == 2
    assert "argument --shapes: '0x224x224' is not BATCHxHEIGHTxWIDTH" in out.stderr


def test_dense_outputs_and_operator_profiles(tmp_path):
    """--outputs dense times all four stages; --profile adds per-operator tables by kind."""
    assert len(build_backbone(TINY_SOLA, 'dense')(torch.randn(1, 3, 64, 64))) == 4
    with pytest.raises(ValueError, match="outputs must be one of \\['dense', 'last'\\]"):
        benchmark.measure_backbones({'sola': TINY_SOLA}, [(1, 64, 64)], outputs='all')
    results = benchmark.measure_backbones(
        {'sola': TINY_SOLA}, [(1, 64, 64)], ('infer', 'train'), warmup=0, rounds=1,
        measure_memory=False, log=lambda _: None, outputs='dense', profile_passes=1)
    assert results['outputs'] == 'dense'
    for row in results['rows']:
        ops = {op['op']: op for op in row['profile']}
        assert ops['aten::addmm']['kind'] == 'matrix products'
        assert ops['aten::mkldnn_convolution']['kind'] == 'convolutions'
        assert abs(sum(op['share'] for op in row['profile']) - 1) < 1e-6
        assert row['profile'] == sorted(row['profile'], key=lambda op: -op['self_ms'])
    infer = next(r for r in results['rows'] if r['mode'] == 'infer')
    # per inference pass, each of the 5 blocks adds its two branches into the residual in place
    assert {op['op']: op for op in infer['profile']}['aten::addmm_']['calls'] == 2 * 5
    paths = benchmark.write_benchmark_report(results, str(tmp_path))
    report = open(paths['profile']).read()
    assert '## sola, infer 1x64x64' in report and '## sola, train 1x64x64' in report
    assert 'ms of operator time per pass: ' in report and '| `aten::addmm` | matrix products |' \
        in report
    assert 'backbones returning all four stages' in open(paths['md']).read()
