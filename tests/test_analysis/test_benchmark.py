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
