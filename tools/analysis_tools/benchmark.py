"""Latency, throughput and peak memory of SoLA-Vision and its peers, side by side.

    python tools/analysis/benchmark.py [--models sola-t swin-t ...] [--shapes 8x224x224 1x800x1280]
        [--modes infer train] [--device cpu|cuda] [--dtype fp32|bf16|fp16] [--threads 2]
        [--out-dir work_dirs/benchmark]

Shapes are BATCHxHEIGHTxWIDTH. Writes results.json, results.md and results.png (log-log latency
and memory against pixels) to --out-dir and prints the table, the machine's matrix-multiply
rate and the ratios the project targets.
"""
import argparse
import math

import torch

from mmsola.analysis import count_complexity
from mmsola.analysis.benchmark import (BACKBONES, DEFAULT_MODELS, build_backbone, matmul_rate,
                                       run_benchmark, write_report)
from mmsola.models.backbones.layout import preset_layout

DTYPES = dict(fp32=torch.float32, bf16=torch.bfloat16, fp16=torch.float16)
DEFAULT_SHAPES = ['8x224x224', '1x512x512', '1x1024x1024', '1x800x1280', '1x2048x2048']


def parse_shape(text: str):
    try:
        batch, height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'shape {text!r} is not BATCHxHEIGHTxWIDTH') from None
    return batch, height, width


def largest_global_attention(name: str, shape) -> int:
    """Tokens in the largest global softmax layer of a SoLA model at this input (0: none)."""
    cfg = BACKBONES[name]
    if cfg['type'] != 'mmsola.SoLAVision':
        return 0
    layout = preset_layout(cfg.get('layout', 'sola'), (2, 2, 6, 2))
    tokens = [math.ceil(shape[1] / 2**(i + 2)) * math.ceil(shape[2] / 2**(i + 2))
              for i in range(4)]
    return max((t for t, letters in zip(tokens, layout) if 'S' in letters), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=list(DEFAULT_MODELS),
                        choices=list(BACKBONES),
                        help='default: %(default)s (the checkpointing variants only matter for '
                        '--modes train)')
    parser.add_argument('--shapes', nargs='+', type=parse_shape,
                        default=[parse_shape(s) for s in DEFAULT_SHAPES])
    parser.add_argument('--modes', nargs='+', default=['infer'], choices=['infer', 'train'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--dtype', default='fp32', choices=list(DTYPES))
    parser.add_argument('--threads', type=int, default=None, help='CPU threads (torch)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--no-memory', action='store_true', help='skip the memory probes')
    parser.add_argument('--max-global-tokens', type=int, default=16384,
                        help='skip a SoLA layout whose global softmax layer would attend over '
                        'more tokens than this (default: %(default)s, i.e. 128 x 128)')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    def skip(name, shape, mode):
        tokens = largest_global_attention(name, shape)
        if tokens > args.max_global_tokens:
            return f'global softmax over {tokens} tokens (> --max-global-tokens)'
        return None

    device = torch.device(args.device)
    # The machine's rate is the better of a product before and one after the run, so a busy
    # spell during either does not inflate the fraction SoLA-T reaches.
    rate_before = matmul_rate(device, dtype=DTYPES[args.dtype])
    results = run_benchmark(args.models, args.shapes, args.modes, args.device,
                            DTYPES[args.dtype], args.warmup, args.rounds, not args.no_memory,
                            skip)
    results['matmul_gflops'] = max(rate_before, matmul_rate(device, dtype=DTYPES[args.dtype]))
    if 'sola-t' in args.models and (8, 224, 224) in args.shapes:
        flops = count_complexity(build_backbone('sola-t').eval(),
                                 (torch.randn(8, 3, 224, 224), ))['flops'] * 2  # MAC = 2 FLOPs
        row = next(r for r in results['rows'] if r['model'] == 'sola-t' and r['mode'] == 'infer'
                   and tuple(r['shape']) == (8, 224, 224))
        results['sola_t_224_b8_gflops'] = flops / row['latency_s']['median'] / 1e9
    paths = write_report(results, args.out_dir)
    with open(paths['md'], 'a') as f:
        f.write(ratio_summary(results))
    print(open(paths['md']).read())
    print(f"written: {', '.join(paths.values())}")


def ratio_summary(results: dict) -> str:
    def median(model, shape, mode='infer'):
        for r in results['rows']:
            if (r['model'], tuple(r['shape']), r['mode']) == (model, shape, mode) and \
                    not r.get('skipped'):
                return r['latency_s']['median'], r.get('peak_memory_mib')
        return None, None

    lines = ['', '### Ratios (same run)', '']
    checks = [
        ('SoLA-T / Swin-T throughput, 8x224x224', ('swin-t', 'sola-t'), (8, 224, 224), '>= 2.0'),
        ('SoLA-T / Swin-T throughput, 1x800x1280', ('swin-t', 'sola-t'), (1, 800, 1280),
         '>= 1.5'),
        ('sola / stage layout speed, 1x800x1280', ('sola-t-stage', 'sola-t'), (1, 800, 1280),
         '>= 1.5'),
        ('sola / linear layout speed, 1x800x1280', ('sola-t-linear', 'sola-t'), (1, 800, 1280),
         '>= 0.91'),
    ]
    for label, (slow, fast), shape, target in checks:
        a, _ = median(slow, shape)
        b, _ = median(fast, shape)
        if a and b:
            lines.append(f'- {label}: {a / b:.2f} (target {target})')
    big, _ = median('sola-t', (1, 2048, 2048))
    small, _ = median('sola-t', (1, 1024, 1024))
    if big and small:
        lines.append(f'- SoLA-T latency 2048^2 / 1024^2: {big / small:.2f} (target <= 4.6)')
    memory_checks = [('SoLA-T / Swin-T', 'sola-t', 'swin-t', ' (target <= 0.7)'),
                     ('SoLA-T with recompute=True / Swin-T', 'sola-t-recompute', 'swin-t', ''),
                     ('SoLA-T / Swin-T, both with_cp=True', 'sola-t-cp', 'swin-t-cp', '')]
    for label, ours, theirs, target in memory_checks:
        _, our_mem = median(ours, (2, 800, 1280), 'train')
        _, their_mem = median(theirs, (2, 800, 1280), 'train')
        if our_mem and their_mem:
            lines.append(f'- training peak memory {label}, 2x800x1280: '
                         f'{our_mem / their_mem:.2f}{target}')
    if 'sola_t_224_b8_gflops' in results:
        rate = results['sola_t_224_b8_gflops']
        lines.append(f"- SoLA-T at 8x224x224: {rate:.1f} GFLOP/s = "
                     f"{rate / results['matmul_gflops']:.0%} of this machine's matrix-multiply "
                     f"rate ({results['matmul_gflops']:.1f} GFLOP/s, 2048^2 fp32) (target >= 50%)")
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
