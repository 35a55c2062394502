"""Side-by-side latency, throughput and peak memory of backbones, built from their registries.

The models take turns round by round after warm-up, so slow drifts of the machine hit all alike;
the median and inter-quartile range of the rounds are reported. Peak memory is measured on a
CPU in a fresh process per (model, setting) (:func:`peak_memory_cpu`), on a GPU by its allocator.
"""
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.fileio import dump, put_text
from mmengine.registry import MODELS

from .plotting import pyplot

#: Memory-probe allocator setting: every allocation above 64 KiB gets its own mapping, handed back
#: to the OS when freed, so the resident set follows the live tensors (with glibc's default, freed
#: tensors stay in the heap and the high-water mark depends on fragmentation).
MEMORY_PROBE_ENV = {'MALLOC_MMAP_THRESHOLD_': str(64 * 1024)}


def build_backbone(cfg: dict) -> nn.Module:
    """A backbone from its registry config, returning its last stage's output only."""
    return MODELS.build(dict(cfg, out_indices=(3, )))


def largest_global_attention(backbone: nn.Module, height: int, width: int) -> int:
    """Tokens of the largest global softmax layer (letter 'S' of ``backbone.layout``) at (H, W),
    0 if none: each stage's size follows the input through the stem and downsampling convs."""
    tokens, size = [0], (height, width)
    for index, letters in enumerate(getattr(backbone, 'layout', None) or ()):
        resizing = backbone.stem if index == 0 else backbone.stages[index].downsample
        for conv in (m for m in resizing.modules() if isinstance(m, nn.Conv2d)):
            size = tuple((s + 2 * p - d * (k - 1) - 1) // st + 1 for s, k, st, p, d in zip(
                size, conv.kernel_size, conv.stride, conv.padding, conv.dilation))
        tokens.append(size[0] * size[1] if 'S' in letters else 0)
    return max(tokens)


def make_step(model: nn.Module, inputs: torch.Tensor, mode: str,
              dtype: torch.dtype = torch.float32) -> Callable[[], None]:
    """A callable running one inference pass or one training step (forward + backward), under
    autocast to ``dtype`` unless that is float32."""
    if mode not in ('infer', 'train'):
        raise ValueError(f"mode must be 'infer' or 'train', got {mode!r}")
    model.train(mode == 'train')
    autocast = partial(torch.autocast, inputs.device.type, dtype=dtype,
                       enabled=dtype != torch.float32)

    def step() -> None:
        with autocast(), torch.inference_mode(mode == 'infer'):
            outputs = model(inputs)
            if mode == 'train':
                sum(o.float().mean() for o in outputs).backward()
                for p in model.parameters():
                    p.grad = None
    return step


def time_interleaved(steps: Dict[str, Callable[[], None]], device: torch.device,
                     warmup: int = 2, rounds: int = 5) -> Dict[str, List[float]]:
    """Seconds per call of each step, the steps taking turns in every round."""
    sync = torch.cuda.synchronize if device.type == 'cuda' else lambda: None
    for step in [step for step in steps.values() for _ in range(warmup)]:
        step()
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            sync()
            start = time.perf_counter()
            step()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def summarise(samples: Sequence[float]) -> Dict[str, float]:
    """Median, quartiles, min and max of a list of timings."""
    ordered = sorted(samples)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return dict(median=statistics.median(ordered), q1=quartiles[0], q3=quartiles[2],
                min=ordered[0], max=ordered[-1])


def _proc_status_mib(key: str) -> float:
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key + ':'))


def probe_peak_memory(backbone: dict, shape: Sequence[int], mode: str, threads: int) -> float:
    """Peak resident-memory growth (MiB) of one pass at (B, H, W) in this process (Linux).

    Once the model and input are built, freed heap goes back to the OS (``malloc_trim``) and the
    high-water mark is reset (``/proc/self/clear_refs``): the reading is the pass's own peak.
    """
    torch.set_num_threads(threads)
    step = make_step(build_backbone(backbone), torch.randn(shape[0], 3, *shape[1:]), mode)
    ctypes.CDLL('libc.so.6').malloc_trim(0)
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    before = _proc_status_mib('VmRSS')
    step()
    return _proc_status_mib('VmHWM') - before


def peak_memory_cpu(backbone: dict, shape: Sequence[int], mode: str, threads: int) -> float:
    """:func:`probe_peak_memory` in a fresh ``python -m mmsola.analysis.benchmark`` with
    :data:`MEMORY_PROBE_ENV`; raises RuntimeError with the probe's stderr if it fails."""
    request = json.dumps(dict(backbone=backbone, shape=list(shape), mode=mode, threads=threads))
    out = subprocess.run([sys.executable, '-m', 'mmsola.analysis.benchmark', request],
                         capture_output=True, text=True, env={**os.environ, **MEMORY_PROBE_ENV})
    if out.returncode != 0:
        raise RuntimeError(f'memory probe of {backbone} at {shape} failed:\n{out.stderr[-2000:]}')
    return float(out.stdout.strip().splitlines()[-1])


def peak_memory_cuda(step: Callable[[], None], device: torch.device) -> float:
    """Peak growth (MiB) of the CUDA memory allocated by one call of ``step``."""
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    step()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def environment(device: torch.device, dtype: torch.dtype) -> dict:
    """Device (CPU model or GPU name), dtype, threads and torch version of a run."""
    info = dict(device=str(device), dtype=str(dtype).replace('torch.', ''),
                threads=torch.get_num_threads(), torch=torch.__version__)
    if device.type == 'cuda':
        return dict(info, device_name=torch.cuda.get_device_name(device))
    with open('/proc/cpuinfo') as f:
        names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
    return dict(info, cpu=names[0] if names else 'unknown')


def measure_backbones(backbones: Dict[str, dict], shapes: Sequence[Sequence[int]],
                      modes: Sequence[str] = ('infer', ), device: str = 'cpu',
                      dtype: torch.dtype = torch.float32, warmup: int = 2, rounds: int = 5,
                      measure_memory: bool = True, max_global_tokens: Optional[int] = None,
                      log: Callable[[str], None] = print) -> dict:
    """Measure every backbone (name -> registry config) at every (B, H, W) shape and mode into a
    JSON-able dict, skipping a shape where a global softmax layer of the model would attend over
    more than ``max_global_tokens`` tokens."""
    torch_device = torch.device(device)
    built = {name: build_backbone(cfg).to(torch_device) for name, cfg in backbones.items()}
    rows = []
    for mode in modes:
        for shape in shapes:
            steps = {}
            for name, model in built.items():
                tokens = largest_global_attention(model, *shape[1:])
                if max_global_tokens is not None and tokens > max_global_tokens:
                    rows.append(dict(model=name, shape=list(shape), mode=mode, skipped=(
                        f'global softmax over {tokens} tokens (> --max-global-tokens)')))
                    continue
                inputs = torch.randn(shape[0], 3, *shape[1:], device=torch_device)
                steps[name] = make_step(model, inputs, mode, dtype)
            log(f'[benchmark] {mode} {shape}: {", ".join(steps)}')
            for name, samples in time_interleaved(steps, torch_device, warmup, rounds).items():
                memory = None if not measure_memory else (
                    peak_memory_cuda(steps[name], torch_device) if torch_device.type == 'cuda'
                    else peak_memory_cpu(backbones[name], shape, mode, torch.get_num_threads()))
                rows.append(dict(model=name, shape=list(shape), mode=mode,
                                 latency_s=summarise(samples), peak_memory_mib=memory))
    return dict(environment=environment(torch_device, dtype), models=list(backbones),
                modes=list(modes), warmup=warmup, rounds=rounds, rows=rows)


def markdown_table(results: dict) -> str:
    """The environment line and one latency/throughput/memory table per mode."""
    env = results['environment']
    lines = [f"Device {env.get('device_name', env.get('cpu'))} ({env['device']}), {env['dtype']}, "
             f"{env['threads']} threads, torch {env['torch']}; median of {results['rounds']} "
             f"interleaved rounds after {results['warmup']} warm-up passes "
             '(inter-quartile range in brackets).', '']
    for mode in results['modes']:
        title = 'Inference' if mode == 'infer' else 'Training step (forward + backward)'
        lines += [f'### {title}', '',
                  '| model | input (B x H x W) | latency ms | images/s | peak memory MiB |',
                  '|---|---|---|---|---|']
        for r in (r for r in results['rows'] if r['mode'] == mode):
            shape = 'x'.join(map(str, r['shape']))
            if r.get('skipped'):
                lines.append(f"| {r['model']} | {shape} | skipped: {r['skipped']} | | |")
                continue
            t = r['latency_s']
            memory = f"{r['peak_memory_mib']:.0f}" if r['peak_memory_mib'] is not None else ''
            lines.append(f"| {r['model']} | {shape} | {t['median'] * 1e3:.1f} "
                         f"[{t['q1'] * 1e3:.1f}-{t['q3'] * 1e3:.1f}] | "
                         f"{r['shape'][0] / t['median']:.2f} | {memory} |")
        lines.append('')
    return '\n'.join(lines)


def plot_benchmark(results: dict, path: str) -> None:
    """Log-log latency and peak memory against pixels per image (rows of batch 1)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode, style in (('infer', '-o'), ('train', '--s')):
        for model in results['models']:
            rows = sorted((r for r in results['rows'] if r['model'] == model and r['mode'] == mode
                           and not r.get('skipped') and r['shape'][0] == 1),
                          key=lambda r: r['shape'][1] * r['shape'][2])
            pixels = [r['shape'][1] * r['shape'][2] for r in rows]
            for axis, values in zip(axes, ([r['latency_s']['median'] * 1e3 for r in rows],
                                           [r['peak_memory_mib'] for r in rows])):
                if len(rows) > 1 and None not in values:
                    axis.plot(pixels, values, style, label=f'{model} ({mode})')
    for axis, label in zip(axes, ('latency (ms)', 'peak memory (MiB)')):
        axis.set(xscale='log', yscale='log', xlabel='pixels per image (batch 1)', ylabel=label)
        axis.grid(True, which='both', alpha=0.3)
        axis.xaxis.set_minor_formatter(plt.NullFormatter())
    axes[0].legend(fontsize=7)
    fig.suptitle('{device} {dtype}, {threads} threads'.format(**results['environment']))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_benchmark_report(results: dict, out_dir: str, notes: str = '') -> Dict[str, str]:
    """results.json, results.md (the tables, then ``notes``) and results.png in ``out_dir``."""
    paths = {kind: os.path.join(out_dir, f'results.{kind}') for kind in ('json', 'md', 'png')}
    dump(results, paths['json'], indent=2)
    put_text(markdown_table(results) + notes, paths['md'])
    plot_benchmark(results, paths['png'])
    return paths


if __name__ == '__main__':
    # The memory probe's own process (see peak_memory_cpu): one JSON argument, one number out.
    print(json.dumps(probe_peak_memory(**json.loads(sys.argv[1]))))
