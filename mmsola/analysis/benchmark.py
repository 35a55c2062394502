"""Side-by-side latency, throughput and peak memory of backbones.

Models are built from their own libraries' registries (``mmsola.SoLAVision``,
``mmpretrain.SwinTransformer``, ``mmpretrain.ConvNeXt``). Latency is measured in one process,
the models interleaved round by round after warm-up, so slow drifts of the machine hit every
model alike; the median and the inter-quartile range of the rounds are reported. Peak memory is
measured per (model, setting) in a fresh subprocess on the CPU (growth of the resident set's
high-water mark over what the process held before the pass), and with ``max_memory_allocated``
on CUDA.
"""
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

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
DEFAULT_MODELS = tuple(name for name in BACKBONES if not name.endswith(('-recompute', '-cp')))

#: Memory-probe allocator setting: every allocation above 64 KiB gets its own mapping, handed
#: back to the OS when freed, so the resident set follows the live tensors. With glibc's default
#: (a threshold that rises up to 32 MiB as large blocks are freed) freed tensors stay in the heap
#: and the high-water mark depends on fragmentation, not only on what the model holds.
MEMORY_PROBE_ENV = {'MALLOC_MMAP_THRESHOLD_': str(64 * 1024)}


def build_backbone(name: str) -> nn.Module:
    """Build one of :data:`BACKBONES` (its last stage's output only)."""
    from mmengine.registry import MODELS

    import mmsola  # noqa: F401
    if name not in BACKBONES:
        raise KeyError(f'unknown backbone {name!r}; known: {sorted(BACKBONES)}')
    return MODELS.build(dict(BACKBONES[name], out_indices=(3, )))


def make_step(model: nn.Module, inputs: torch.Tensor, mode: str) -> Callable[[], None]:
    """A callable running one inference pass or one training step (forward + backward)."""
    if mode == 'infer':
        model.eval()

        def step():
            with torch.inference_mode():
                model(inputs)
    elif mode == 'train':
        model.train()

        def step():
            outputs = model(inputs)
            sum(o.float().mean() for o in outputs).backward()
            for p in model.parameters():
                p.grad = None
    else:
        raise ValueError(f"mode must be 'infer' or 'train', got {mode!r}")
    return step


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_interleaved(steps: Dict[str, Callable[[], None]],
                     device: torch.device,
                     warmup: int = 2,
                     rounds: int = 5) -> Dict[str, List[float]]:
    """Seconds per call of each step, the steps taking turns in every round."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    _sync(device)
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def summarise(samples: Sequence[float]) -> Dict[str, float]:
    ordered = sorted(samples)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return dict(median=statistics.median(ordered), q1=quartiles[0], q3=quartiles[2],
                min=ordered[0], max=ordered[-1])


def peak_memory_cpu(name: str, shape: Tuple[int, int, int], mode: str, threads: int) -> float:
    """Peak resident-memory growth (MiB) of one pass, measured in a fresh process.

    After building the model and the input, freed heap is returned to the OS (``malloc_trim``)
    and the kernel's high-water mark is reset (``/proc/self/clear_refs``), so the reading is the
    pass's own peak over what the process held just before it (Linux only). The process runs
    with :data:`MEMORY_PROBE_ENV`, so the peak is that of the live tensors.
    """
    code = (
        'import ctypes, json, torch\n'
        f'torch.set_num_threads({threads})\n'
        'from mmsola.analysis.benchmark import build_backbone, make_step\n'
        f'model = build_backbone({name!r})\n'
        f'x = torch.randn({shape[0]}, 3, {shape[1]}, {shape[2]})\n'
        f'step = make_step(model, x, {mode!r})\n'
        'def status(key):\n'
        '    for line in open("/proc/self/status"):\n'
        '        if line.startswith(key + ":"):\n'
        '            return int(line.split()[1]) / 1024\n'
        'ctypes.CDLL("libc.so.6").malloc_trim(0)\n'
        'open("/proc/self/clear_refs", "w").write("5")\n'
        'before = status("VmRSS")\n'
        'step()\n'
        'print(json.dumps(status("VmHWM") - before))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         env={**os.environ, **MEMORY_PROBE_ENV})
    if out.returncode != 0:
        raise RuntimeError(f'memory probe of {name} at {shape} failed:\n{out.stderr[-2000:]}')
    return float(out.stdout.strip().splitlines()[-1])


def peak_memory_cuda(step: Callable[[], None], device: torch.device) -> float:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    step()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def matmul_rate(device: torch.device, size: int = 2048, repeats: int = 5,
                dtype: torch.dtype = torch.float32) -> float:
    """The machine's dense matrix-multiply rate in GFLOP/s (2 n^3 per product, best of runs)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    best = float('inf')
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def environment(device: torch.device, dtype: torch.dtype) -> dict:
    info = dict(device=str(device), dtype=str(dtype).replace('torch.', ''),
                threads=torch.get_num_threads(), torch=torch.__version__)
    if device.type == 'cuda':
        info['device_name'] = torch.cuda.get_device_name(device)
    else:
        info['cpu'] = _cpu_name()
    return info


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return 'unknown'


def write_report(results: dict, out_dir: str) -> Dict[str, str]:
    """Write results.json, results.md (a table per mode) and results.png; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {kind: os.path.join(out_dir, f'results.{kind}') for kind in ('json', 'md', 'png')}
    with open(paths['json'], 'w') as f:
        json.dump(results, f, indent=2)
    with open(paths['md'], 'w') as f:
        f.write(markdown_table(results))
    plot(results, paths['png'])
    return paths


def markdown_table(results: dict) -> str:
    env = results['environment']
    lines = [f"Device {env.get('device_name', env.get('cpu'))} ({env['device']}), {env['dtype']}, "
             f"{env['threads']} threads, torch {env['torch']}; median of {results['rounds']} "
             f"interleaved rounds after {results['warmup']} warm-up passes "
             '(inter-quartile range in brackets).', '']
    for mode in results['modes']:
        rows = [r for r in results['rows'] if r['mode'] == mode]
        title = 'Inference' if mode == 'infer' else 'Training step (forward + backward)'
        lines += [f'### {title}', '',
                  '| model | input (B x H x W) | latency ms | images/s | peak memory MiB |',
                  '|---|---|---|---|---|']
        for r in rows:
            shape = 'x'.join(str(s) for s in r['shape'])
            if r.get('skipped'):
                lines.append(f"| {r['model']} | {shape} | skipped: {r['skipped']} | | |")
                continue
            t = r['latency_s']
            memory = f"{r['peak_memory_mib']:.0f}" if r.get('peak_memory_mib') is not None else ''
            lines.append(f"| {r['model']} | {shape} | {t['median'] * 1e3:.1f} "
                         f"[{t['q1'] * 1e3:.1f}-{t['q3'] * 1e3:.1f}] | "
                         f"{r['shape'][0] / t['median']:.2f} | {memory} |")
        lines.append('')
    return '\n'.join(lines)


def plot(results: dict, path: str) -> None:
    import matplotlib
    import matplotlib.ticker
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode, style in (('infer', '-o'), ('train', '--s')):
        for model in results['models']:
            rows = sorted((r for r in results['rows'] if r['model'] == model and r['mode'] == mode
                           and not r.get('skipped') and r['shape'][0] == 1),
                          key=lambda r: r['shape'][1] * r['shape'][2])
            if len(rows) < 2:
                continue
            pixels = [r['shape'][1] * r['shape'][2] for r in rows]
            axes[0].plot(pixels, [r['latency_s']['median'] * 1e3 for r in rows], style,
                         label=f'{model} ({mode})')
            memory = [r.get('peak_memory_mib') for r in rows]
            if all(m is not None for m in memory):
                axes[1].plot(pixels, memory, style, label=f'{model} ({mode})')
    for axis, label in zip(axes, ('latency (ms)', 'peak memory (MiB)')):
        axis.set_xscale('log')
        axis.set_yscale('log')
        axis.set_xlabel('pixels per image (batch 1)')
        axis.set_ylabel(label)
        axis.grid(True, which='both', alpha=0.3)
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes[0].legend(fontsize=7)
    env = results['environment']
    fig.suptitle(f"{env['device']} {env['dtype']}, {env['threads']} threads")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_benchmark(models: Sequence[str],
                  shapes: Sequence[Tuple[int, int, int]],
                  modes: Sequence[str] = ('infer', ),
                  device: str = 'cpu',
                  dtype: torch.dtype = torch.float32,
                  warmup: int = 2,
                  rounds: int = 5,
                  measure_memory: bool = True,
                  skip: Optional[Callable[[str, Tuple[int, int, int], str], Optional[str]]] = None,
                  log: Callable[[str], None] = print) -> dict:
    """Measure every model at every shape and mode; returns a JSON-able dict of results.

    Args:
        skip: ``skip(model, shape, mode)`` returns a reason to skip that cell, or None.
    """
    torch_device = torch.device(device)
    built = {name: build_backbone(name).to(torch_device) for name in models}
    rows = []
    for mode in modes:
        for shape in shapes:
            steps = {}
            for name, model in built.items():
                reason = skip(name, shape, mode) if skip else None
                if reason:
                    rows.append(dict(model=name, shape=list(shape), mode=mode, skipped=reason))
                    continue
                inputs = torch.randn(*shape[:1], 3, *shape[1:], device=torch_device)
                step = make_step(model, inputs, mode)
                if dtype != torch.float32:
                    plain = step

                    def step(plain=plain):
                        with torch.autocast(torch_device.type, dtype=dtype):
                            plain()
                steps[name] = step
            log(f'[benchmark] {mode} {shape}: {", ".join(steps)}')
            times = time_interleaved(steps, torch_device, warmup, rounds)
            for name, samples in times.items():
                memory = None
                if measure_memory:
                    memory = (peak_memory_cuda(steps[name], torch_device)
                              if torch_device.type == 'cuda' else peak_memory_cpu(
                                  name, shape, mode, torch.get_num_threads()))
                rows.append(dict(model=name, shape=list(shape), mode=mode,
                                 latency_s=summarise(samples), peak_memory_mib=memory))
    return dict(environment=environment(torch_device, dtype), models=list(models),
                modes=list(modes), warmup=warmup, rounds=rounds, rows=rows)
