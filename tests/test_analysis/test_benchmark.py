"""The side-by-side benchmark on a tiny setting: every peer builds, rows and reports appear."""
import json
import os
import subprocess
import sys

from mmsola.analysis.benchmark import BACKBONES, build_backbone, summarise


def test_every_peer_builds_from_its_registry():
    for name in BACKBONES:
        model = build_backbone(name)
        assert sum(p.numel() for p in model.parameters()) > 1e6, name


def test_summary_statistics():
    stats = summarise([3.0, 1.0, 2.0, 10.0])
    assert stats['median'] == 2.5 and stats['min'] == 1.0 and stats['max'] == 10.0
    assert stats['q1'] <= stats['median'] <= stats['q3']


def test_benchmark_tool_writes_json_table_and_plot(repo_root, tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(repo_root, 'tools', 'analysis', 'benchmark.py'),
         '--models', 'sola-t', 'sola-t-softmax', 'convnext-t', '--shapes', '1x64x64',
         '1x512x512', '--modes', 'infer', '--rounds', '2', '--warmup', '1',
         '--max-global-tokens', '1000', '--out-dir', str(tmp_path)],
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
    assert (tmp_path / 'results.png').stat().st_size > 1000
    assert '| sola-t | 1x64x64 |' in (tmp_path / 'results.md').read_text()


def _load_tool(repo_root):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', os.path.join(repo_root, 'tools', 'analysis', 'benchmark.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_ratio_summary_reports_each_target_from_the_same_run(repo_root):
    tool = _load_tool(repo_root)

    def row(model, shape, seconds, memory=None, mode='infer'):
        return dict(model=model, shape=list(shape), mode=mode, peak_memory_mib=memory,
                    latency_s=dict(median=seconds))

    results = dict(rows=[
        row('sola-t', (8, 224, 224), 1.0), row('swin-t', (8, 224, 224), 1.5),
        row('sola-t', (1, 1024, 1024), 2.0), row('sola-t', (1, 2048, 2048), 9.0),
        row('sola-t', (2, 800, 1280), 9.0, 600, 'train'),
        row('swin-t', (2, 800, 1280), 9.0, 800, 'train'),
        row('sola-t-recompute', (2, 800, 1280), 9.0, 400, 'train'),
    ], matmul_gflops=100.0, sola_t_224_b8_gflops=40.0)
    summary = tool.ratio_summary(results)
    assert 'SoLA-T / Swin-T throughput, 8x224x224: 1.50 (target >= 2.0)' in summary
    assert 'SoLA-T latency 2048^2 / 1024^2: 4.50 (target <= 4.6)' in summary
    assert 'memory SoLA-T / Swin-T, 2x800x1280: 0.75 (target <= 0.7)' in summary
    assert 'memory SoLA-T with recompute=True / Swin-T, 2x800x1280: 0.50' in summary
    assert 'both with_cp=True' not in summary  # not measured, not reported
    assert '40% of this machine' in summary
    assert 'sola / stage' not in summary


def test_global_attention_size_of_every_sola_peer(repo_root):
    tool = _load_tool(repo_root)
    # stage 3 of an 800 x 1280 input is 50 x 80 tokens; the linear layout has no global layer
    for name in ('sola-t', 'sola-t-recompute', 'sola-t-cp', 'sola-t-stage'):
        assert tool.largest_global_attention(name, (1, 800, 1280)) == 4000, name
    assert tool.largest_global_attention('sola-t-softmax', (1, 800, 1280)) == 200 * 320
    assert tool.largest_global_attention('sola-t-linear', (1, 800, 1280)) == 0
    assert tool.largest_global_attention('swin-t-cp', (1, 800, 1280)) == 0
