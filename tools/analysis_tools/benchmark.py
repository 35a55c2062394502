"""Latency, throughput and peak memory of SoLA-Vision and its peers, side by side.

    python tools/analysis_tools/benchmark.py [--models sola-t swin-t ...]
        [--shapes 8x224x224 1x800x1280]
        [--modes infer train] [--device cpu|cuda] [--dtype fp32|bf16|fp16] [--threads 2]
        [--reference swin-t] [--onnxruntime [--onnx-dir DIR]] [--outputs last|dense]
        [--profile [PASSES]] [--out-dir work_dirs/benchmark]

Shapes are BATCHxHEIGHTxWIDTH. Writes results.json, results.md and results.png (log-log latency
and memory against pixels) to --out-dir and prints the tables, the arithmetic rate each model
reaches at the first shape against this machine's matrix-multiply rate, and, with --reference,
every model's throughput and peak-memory ratios to that model in the same run.

--onnxruntime (CPU, fp32, inference) also exports every backbone to ONNX at each shape (fixed
shapes, for SoLA-T and its peers alike) and times its ONNX Runtime session in the same
interleaved rounds; the tables get "(ORT)" rows, the ratios are given within each runtime, and
each model's ONNX Runtime / eager throughput ratio is listed.

--outputs dense makes every backbone return all four stages (what FPN and UperNet read) instead
of the last one. --profile runs every eager model once more under the PyTorch profiler after the
timed rounds and writes profile.md next to the results: time per operator kind (matrix products,
convolutions, the rest) and the operators that take it, per model, mode and shape.
"""
import argparse
from typing import Dict, List, Tuple

import torch

from mmsola.analysis.benchmark import (build_backbone, measure_backbones, row_label,
                                       time_interleaved, write_benchmark_report)
from mmsola.analysis.flops import count_complexity
from mmsola.utils.cli import input_shape

#: name -> backbone config, built through MMEngine's registry tree.
BACKBONES: Dict[str, dict] = {
    'sola-t': dict(type='mmsola.SoLAVision', arch='tiny', layout='sola'),
    'sola-t-linear': dict(type='mmsola.SoLAVision', arch='tiny', layout='linear'),
    'sola-t-stage': dict(type='mmsola.SoLAVision', arch='tiny', layout='stage'),
    'sola-t-softmax': dict(type='mmsola.SoLAVision', arch='tiny', layout='softmax'),
    'swin-t': dict(type='mmpretrain.SwinTransformer', arch='tiny'),
    'convnext-t': dict(type='mmpretrain.ConvNeXt', arch='tiny'),
    # Training-memory variants: selective recompute, and full per-block checkpointing of both.
    'sola-t-recompute': dict(type='mmsola.SoLAVision', arch='tiny', recompute=True),
    'sola-t-cp': dict(type='mmsola.SoLAVision', arch='tiny', with_cp=True),
    'swin-t-cp': dict(type='mmpretrain.SwinTransformer', arch='tiny', with_cp=True),
}
#: The peers compared by default; the checkpointing variants differ only when training.
DEFAULT_MODELS = [name for name in BACKBONES if not name.endswith(('-recompute', '-cp'))]
DTYPES = dict(fp32=torch.float32, bf16=torch.bfloat16, fp16=torch.float16)


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int = 2048) -> float:
    """The machine's dense matrix-multiply rate in GFLOP/s (2 n^3 per product, best of 5)."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    return 2 * size**3 / min(time_interleaved({'mm': lambda: a @ b}, device, 1, 5)['mm']) / 1e9


def rate_lines(results: dict, shape: Tuple[int, int, int]) -> List[str]:
    """This machine's matrix-multiply rate, and each model's FLOPs (2 per MAC) over its median
    inference latency at ``shape`` (each runtime), also stored in its row as ``gflops``."""
    rate, device = results['matmul_gflops'], results['environment']['device']
    lines = ['', '### Arithmetic rate (same run)', '',
             f"- matrix multiply, 2048^2 {results['environment']['dtype']}: {rate:.1f} GFLOP/s"]
    macs_of: Dict[str, float] = {}
    for row in results['rows']:
        if row['mode'] == 'infer' and tuple(row['shape']) == shape and not row.get('skipped'):
            if row['model'] not in macs_of:
                model = build_backbone(BACKBONES[row['model']],
                                       results.get('outputs', 'last')).to(device)
                model.eval()  # not chained: some backbones' train() returns None
                macs_of[row['model']] = count_complexity(
                    model, (torch.randn(1, 3, *shape[1:], device=device), ))['flops']
            row['gflops'] = 2 * macs_of[row['model']] * shape[0] / row['latency_s']['median'] / 1e9
            lines.append(f"- {row_label(row)} at {'x'.join(map(str, shape))}: "
                         f"{row['gflops']:.1f} GFLOP/s = {row['gflops'] / rate:.0%} of the "
                         'matrix-multiply rate')
    return lines


def ratio_lines(results: dict, reference: str) -> List[str]:
    """Throughput and peak-memory ratio of every model to ``reference``, per mode and shape,
    within each runtime (ONNX Runtime rows against the reference's ONNX Runtime row)."""
    measured = {(r['mode'], tuple(r['shape']), r.get('runtime', 'eager'), r['model']): r
                for r in results['rows'] if not r.get('skipped')}
    lines = ['', f'### Ratios to {reference} (same run)', '']
    for (mode, shape, runtime, model), row in measured.items():
        base = measured.get((mode, shape, runtime, reference))
        if model == reference or base is None:
            continue
        text = (f"- {row_label(row)} / {row_label(base)}, {mode} {'x'.join(map(str, shape))}: "
                f"throughput {base['latency_s']['median'] / row['latency_s']['median']:.2f}")
        if row['peak_memory_mib'] and base['peak_memory_mib']:
            text += f", peak memory {row['peak_memory_mib'] / base['peak_memory_mib']:.2f}"
        lines.append(text)
    return lines


def onnxruntime_lines(results: dict) -> List[str]:
    """Per model and shape: ONNX Runtime / eager throughput ratio, the export time and the
    largest difference of ONNX Runtime's output from the eager one."""
    eager = {(tuple(r['shape']), r['model']): r for r in results['rows']
             if r.get('runtime', 'eager') == 'eager' and r['mode'] == 'infer'
             and not r.get('skipped')}
    lines = ['', '### ONNX Runtime against eager PyTorch (same run)', '']
    for row in results['rows']:
        base = eager.get((tuple(row['shape']), row['model']))
        if row.get('runtime') != 'onnxruntime' or base is None:
            continue
        lines.append(f"- {row['model']}, infer {'x'.join(map(str, row['shape']))}: throughput "
                     f"ORT / eager {base['latency_s']['median'] / row['latency_s']['median']:.2f}"
                     f" ({row['latency_s']['median'] * 1e3:.1f} vs "
                     f"{base['latency_s']['median'] * 1e3:.1f} ms); export {row['export_s']:.0f}"
                     f" s; max |ORT - eager| {row['max_abs_diff']:.1e}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=DEFAULT_MODELS, choices=list(BACKBONES),
                        help='default: %(default)s (the checkpointing variants only matter for '
                        '--modes train)')
    parser.add_argument('--shapes', nargs='+', type=input_shape,
                        default=[(8, 224, 224), (1, 512, 512), (1, 1024, 1024), (1, 800, 1280),
                                 (1, 2048, 2048)])
    parser.add_argument('--modes', nargs='+', default=['infer'], choices=['infer', 'train'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--dtype', default='fp32', choices=list(DTYPES))
    parser.add_argument('--threads', type=int, default=None, help='CPU threads (torch)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--no-memory', action='store_true', help='skip the memory probes')
    parser.add_argument('--max-global-tokens', type=int, default=16384,
                        help='skip a model at a shape where a global softmax layer would attend '
                        'over more tokens than this (default: %(default)s, i.e. 128 x 128)')
    parser.add_argument('--reference', choices=list(BACKBONES),
                        help='also report every ratio to this model (one of --models)')
    parser.add_argument('--onnxruntime', action='store_true',
                        help='also time every model exported to ONNX in ONNX Runtime (CPU, '
                        'fp32, infer mode; needs requirements/deploy.txt)')
    parser.add_argument('--onnx-dir', help='keep the exported ONNX files here (default: a '
                        'temporary folder)')
    parser.add_argument('--outputs', choices=['last', 'dense'], default='last',
                        help='backbone outputs: the last stage, or all four (default: %(default)s)')
    parser.add_argument('--profile', type=int, nargs='?', const=2, default=0, metavar='PASSES',
                        help='also profile every eager model over PASSES passes (default 2) '
                        'and write profile.md')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    args = parser.parse_args()
    if args.reference and args.reference not in args.models:
        parser.error(f'--reference {args.reference} is not one of --models')
    if args.onnxruntime and (args.device != 'cpu' or args.dtype != 'fp32'):
        parser.error(f'--onnxruntime runs on the CPU in fp32; got --device {args.device} '
                     f'--dtype {args.dtype}')
    if args.onnx_dir and not args.onnxruntime:
        parser.error('--onnx-dir needs --onnxruntime')
    if args.threads:
        torch.set_num_threads(args.threads)

    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    rate_before = matmul_rate(device, dtype)
    results = measure_backbones({name: BACKBONES[name] for name in args.models}, args.shapes,
                                args.modes, args.device, dtype, args.warmup, args.rounds,
                                not args.no_memory, args.max_global_tokens,
                                onnxruntime=args.onnxruntime, export_dir=args.onnx_dir,
                                outputs=args.outputs, profile_passes=args.profile)
    # The better of a rate before and one after the run: a busy spell during either does not
    # inflate the fraction of it the models reach.
    results['matmul_gflops'] = max(rate_before, matmul_rate(device, dtype))
    notes = rate_lines(results, args.shapes[0])
    notes += ratio_lines(results, args.reference) if args.reference else []
    notes += onnxruntime_lines(results) if args.onnxruntime else []
    paths = write_benchmark_report(results, args.out_dir, '\n'.join(notes + ['']))
    print(open(paths['md']).read())
    print(f"written: {', '.join(paths.values())}")


if __name__ == '__main__':
    main()
