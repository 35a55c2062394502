"""Side-by-side latency, throughput and peak memory of backbones, built from their registries.

The models take turns round by round after warm-up, so slow drifts of the machine hit all alike;
the median and inter-quartile range of the rounds are reported. Peak memory is measured on a
CPU in a fresh process per (model, setting) (:func:`peak_memory_cpu`), on a GPU by its allocator.

With ``onnxruntime=True`` every backbone is also exported to ONNX at each benchmarked shape
(fixed shape, so that every model gets the same treatment) and its ONNX Runtime session
(CPUExecutionProvider, intra-op threads = torch's) takes its turn in the same rounds as the
eager models; its rows carry ``runtime='onnxruntime'`` (eager rows ``'eager'``).

With ``profile_passes`` every eager step is also run under the PyTorch profiler once the timing
is done (:func:`profile_ops`): each row gets the self time of every operator per pass, and
:func:`profile_report` turns them into tables grouped by kind (matrix products, convolutions,
everything else: the passes over memory).
"""
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.fileio import dump, put_text
from mmengine.registry import MODELS

from .plotting import pyplot

#: Memory-probe allocator setting: every allocation above 64 KiB gets its own mapping, handed back
#: to the OS when freed, so the resident set follows the live tensors (with glibc's default, freed
#: tensors stay in the heap and the high-water mark depends on fragmentation).
MEMORY_PROBE_ENV = {'MALLOC_MMAP_THRESHOLD_': str(64 * 1024)}
#: Row label suffix of each runtime in the tables.
RUNTIME_LABELS = {'eager': '', 'onnxruntime': ' (ORT)'}


#: What a benchmarked backbone returns: its last stage, or all four (what FPN/UperNet read).
OUTPUTS = {'last': (3, ), 'dense': (0, 1, 2, 3)}
#: Operator kinds of the profile tables, by substrings of the ATen op names.
OP_KINDS = {
    'matrix products': ('addmm', 'aten::mm', 'bmm', 'baddbmm', 'scaled_dot_product', 'matmul'),
    'convolutions': ('convolution', 'conv2d', 'conv_depthwise'),
}


def build_backbone(cfg: dict, outputs: str = 'last') -> nn.Module:
    """A backbone from its registry config returning its last stage's output
    (``outputs='last'``) or all four stages' (``'dense'``)."""
    return MODELS.build(dict(cfg, out_indices=OUTPUTS[outputs]))


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


def make_onnxruntime_step(model: nn.Module, inputs: torch.Tensor, path: str
                          ) -> Tuple[Callable[[], None], Dict[str, float]]:
    """Export ``model`` (eval mode) to the ONNX file ``path`` at the fixed shape of ``inputs``
    and return a callable running one ONNX Runtime inference pass on ``inputs``, with what the
    export cost and how far ONNX Runtime's outputs lie from the eager model's.

    The session uses the CPUExecutionProvider with torch's number of intra-op threads, and its
    idle threads do not spin after a pass (they would take the cores from the next model).

    Returns:
        ``(step, info)``: ``info`` holds ``export_s`` and ``max_abs_diff``.
    """
    from mmsola.deployment.onnx_export import INPUT_NAME, create_session, export_onnx

    model.eval()
    with torch.inference_mode():
        expected = [out.float().cpu().numpy() for out in model(inputs)]
    export_s = export_onnx(model, path, (inputs.shape[0], *inputs.shape[2:]), dynamic=False,
                           output_names=[f'out{index}' for index in range(len(expected))])
    session = create_session(path, torch.get_num_threads(), spinning=False)
    feed = {INPUT_NAME: inputs.detach().cpu().float().numpy()}
    max_abs_diff = max(float(abs(got - want).max())
                       for got, want in zip(session.run(None, feed), expected))

    def step() -> None:
        session.run(None, feed)
    return step, dict(export_s=export_s, max_abs_diff=max_abs_diff)


def op_kind(name: str) -> str:
    """The :data:`OP_KINDS` entry an ATen operator belongs to, else ``'other'``."""
    return next((kind for kind, keys in OP_KINDS.items() if any(k in name for k in keys)),
                'other')


def profile_ops(step: Callable[[], None], device: torch.device, passes: int = 2) -> List[dict]:
    """Self time per pass of every operator over ``passes`` calls of ``step`` (after one
    unprofiled call), from the PyTorch profiler, largest first.

    Returns:
        rows of ``op``, ``kind`` (:func:`op_kind`), ``calls`` and ``self_ms`` (per pass) and
        ``share`` (of the summed self times); on a GPU the self time is the device's.
    """
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    step()
    with profile(activities=activities) as prof:
        for _ in range(passes):
            step()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    timed = 'self_device_time_total' if device.type == 'cuda' else 'self_cpu_time_total'
    events = [(e.key, getattr(e, timed), e.count) for e in prof.key_averages()]
    total = sum(us for _, us, _ in events) or 1.0
    rows = [dict(op=name, kind=op_kind(name), calls=count / passes, self_ms=us / passes / 1e3,
                 share=us / total) for name, us, count in events if us > 0]
    return sorted(rows, key=lambda row: -row['self_ms'])


def profile_report(results: dict, top: int = 20) -> str:
    """Markdown of the ``profile`` of every measured row: time per operator kind, then the
    ``top`` operators by self time."""
    lines = ['# Operator profiles', '',
             'PyTorch profiler, self time per pass (an operator\'s own time, without the '
             'operators it calls), after the timed rounds of the same run.', '']
    for row in (r for r in results['rows'] if r.get('profile')):
        ops = row['profile']
        total = sum(op['self_ms'] for op in ops)
        kinds: Dict[str, float] = {}
        for op in ops:
            kinds[op['kind']] = kinds.get(op['kind'], 0.0) + op['self_ms']
        lines += [f"## {row['model']}, {row['mode']} {'x'.join(map(str, row['shape']))}", '',
                  f'{total:.1f} ms of operator time per pass: ' + ', '.join(
                      f'{kind} {ms:.1f} ms ({ms / total:.0%})'
                      for kind, ms in sorted(kinds.items(), key=lambda item: -item[1])) + '.',
                  '', '| operator | kind | calls per pass | self ms per pass | share |',
                  '|---|---|---|---|---|']
        lines += [f"| `{op['op']}` | {op['kind']} | {op['calls']:g} | {op['self_ms']:.2f} | "
                  f"{op['share']:.1%} |" for op in ops[:top]]
        lines.append('')
    return '\n'.join(lines)


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


def latency_statistics(samples: Sequence[float]) -> Dict[str, float]:
    """Median, quartiles, min and max of a list of timings."""
    ordered = sorted(samples)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return dict(median=statistics.median(ordered), q1=quartiles[0], q3=quartiles[2],
                min=ordered[0], max=ordered[-1])


def _proc_status_mib(key: str) -> float:
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key + ':'))


def probe_peak_memory(backbone: dict, shape: Sequence[int], mode: str, threads: int,
                      outputs: str = 'last') -> float:
    """Peak resident-memory growth (MiB) of one pass at (B, H, W) in this process (Linux).

    Once the model and input are built, freed heap goes back to the OS (``malloc_trim``) and the
    high-water mark is reset (``/proc/self/clear_refs``): the reading is the pass's own peak.
    """
    torch.set_num_threads(threads)
    step = make_step(build_backbone(backbone, outputs), torch.randn(shape[0], 3, *shape[1:]),
                     mode)
    ctypes.CDLL('libc.so.6').malloc_trim(0)
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    before = _proc_status_mib('VmRSS')
    step()
    return _proc_status_mib('VmHWM') - before


def peak_memory_cpu(backbone: dict, shape: Sequence[int], mode: str, threads: int,
                    outputs: str = 'last') -> float:
    """:func:`probe_peak_memory` in a fresh ``python -m mmsola.analysis.benchmark`` with
    :data:`MEMORY_PROBE_ENV`; raises RuntimeError with the probe's stderr if it fails."""
    request = json.dumps(dict(backbone=backbone, shape=list(shape), mode=mode, threads=threads,
                              outputs=outputs))
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
                      log: Callable[[str], None] = print, onnxruntime: bool = False,
                      export_dir: Optional[str] = None, outputs: str = 'last',
                      profile_passes: int = 0) -> dict:
    """Measure every backbone (name -> registry config) at every (B, H, W) shape and mode into a
    JSON-able dict, skipping a shape where a global softmax layer of the model would attend over
    more than ``max_global_tokens`` tokens.

    ``onnxruntime``: also time each backbone's ONNX Runtime session in inference mode
    (:func:`make_onnxruntime_step`), in the same rounds; the ONNX files go to ``export_dir``
    (default: a temporary folder, removed afterwards). CPU and float32 only.

    ``outputs``: ``'last'`` or ``'dense'`` (:data:`OUTPUTS`). ``profile_passes``: when above 0,
    every eager row also gets the ``profile`` of :func:`profile_ops` over that many passes.

    Raises:
        ValueError: for ``onnxruntime`` with a device other than the CPU or a dtype other than
            float32.
    """
    torch_device = torch.device(device)
    if onnxruntime and (torch_device.type != 'cpu' or dtype != torch.float32):
        raise ValueError(f'onnxruntime: the ONNX Runtime runs are CPU float32 only, got device '
                         f'{device} and dtype {dtype}')
    if outputs not in OUTPUTS:
        raise ValueError(f'outputs must be one of {sorted(OUTPUTS)}, got {outputs!r}')
    built = {name: build_backbone(cfg, outputs).to(torch_device)
             for name, cfg in backbones.items()}
    rows = []
    with tempfile.TemporaryDirectory(prefix='mmsola-benchmark-onnx-') as scratch:
        for mode in modes:
            for shape in shapes:
                steps, runtime_of, export_info = {}, {}, {}
                for name, model in built.items():
                    tokens = largest_global_attention(model, *shape[1:])
                    if max_global_tokens is not None and tokens > max_global_tokens:
                        rows.append(dict(model=name, shape=list(shape), mode=mode, skipped=(
                            f'global softmax over {tokens} tokens (> --max-global-tokens)')))
                        continue
                    inputs = torch.randn(shape[0], 3, *shape[1:], device=torch_device)
                    steps[name] = make_step(model, inputs, mode, dtype)
                    runtime_of[name] = (name, 'eager')
                    if onnxruntime and mode == 'infer':
                        key = name + RUNTIME_LABELS['onnxruntime']
                        path = os.path.join(export_dir or scratch,
                                            f"{name}_{'x'.join(map(str, shape))}.onnx")
                        log(f'[benchmark] exporting {name} at {shape} to ONNX')
                        steps[key], export_info[key] = make_onnxruntime_step(model, inputs, path)
                        runtime_of[key] = (name, 'onnxruntime')
                log(f'[benchmark] {mode} {shape}: {", ".join(steps)}')
                for key, samples in time_interleaved(steps, torch_device, warmup,
                                                     rounds).items():
                    name, runtime = runtime_of[key]
                    memory = None if not measure_memory or runtime != 'eager' else (
                        peak_memory_cuda(steps[key], torch_device)
                        if torch_device.type == 'cuda'
                        else peak_memory_cpu(backbones[name], shape, mode,
                                             torch.get_num_threads(), outputs))
                    rows.append(dict(model=name, shape=list(shape), mode=mode, runtime=runtime,
                                     latency_s=latency_statistics(samples), peak_memory_mib=memory,
                                     **export_info.get(key, {})))
                    if profile_passes and runtime == 'eager':
                        log(f'[benchmark] profiling {name} {mode} {shape}')
                        rows[-1]['profile'] = profile_ops(steps[key], torch_device,
                                                          profile_passes)
                steps.clear()  # releases the ONNX Runtime sessions before the next shape
    return dict(environment=environment(torch_device, dtype), models=list(backbones),
                modes=list(modes), warmup=warmup, rounds=rounds, outputs=outputs,
                runtimes=['eager', 'onnxruntime'] if onnxruntime else ['eager'], rows=rows)


def row_label(row: dict) -> str:
    """A row's model name, with ' (ORT)' for an ONNX Runtime row."""
    return row['model'] + RUNTIME_LABELS[row.get('runtime', 'eager')]


def markdown_table(results: dict) -> str:
    """The environment line and one latency/throughput/memory table per mode."""
    env = results['environment']
    returned = dict(last='the last stage', dense='all four stages')[results.get('outputs', 'last')]
    lines = [f"Device {env.get('device_name', env.get('cpu'))} ({env['device']}), {env['dtype']}, "
             f"{env['threads']} threads, torch {env['torch']}; backbones returning {returned}; "
             f"median of {results['rounds']} interleaved rounds after {results['warmup']} "
             'warm-up passes (inter-quartile range in brackets).', '']
    for mode in results['modes']:
        title = 'Inference' if mode == 'infer' else 'Training step (forward + backward)'
        lines += [f'### {title}', '',
                  '| model | input (B x H x W) | latency ms | images/s | peak memory MiB |',
                  '|---|---|---|---|---|']
        for r in (r for r in results['rows'] if r['mode'] == mode):
            shape = 'x'.join(map(str, r['shape']))
            if r.get('skipped'):
                lines.append(f"| {row_label(r)} | {shape} | skipped: {r['skipped']} | | |")
                continue
            t = r['latency_s']
            memory = f"{r['peak_memory_mib']:.0f}" if r['peak_memory_mib'] is not None else ''
            lines.append(f"| {row_label(r)} | {shape} | {t['median'] * 1e3:.1f} "
                         f"[{t['q1'] * 1e3:.1f}-{t['q3'] * 1e3:.1f}] | "
                         f"{r['shape'][0] / t['median']:.2f} | {memory} |")
        lines.append('')
    return '\n'.join(lines)


def plot_benchmark(results: dict, path: str) -> None:
    """Log-log latency and peak memory against pixels per image (rows of batch 1)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode, style in (('infer', '-o'), ('train', '--s')):
        for runtime in results.get('runtimes', ['eager']):
            for model in results['models']:
                rows = sorted((r for r in results['rows'] if r['model'] == model and
                               r['mode'] == mode and r.get('runtime', 'eager') == runtime and
                               not r.get('skipped') and r['shape'][0] == 1),
                              key=lambda r: r['shape'][1] * r['shape'][2])
                pixels = [r['shape'][1] * r['shape'][2] for r in rows]
                line_style = style if runtime == 'eager' else ':^'
                for axis, values in zip(axes, ([r['latency_s']['median'] * 1e3 for r in rows],
                                               [r['peak_memory_mib'] for r in rows])):
                    if len(rows) > 1 and None not in values:
                        axis.plot(pixels, values, line_style,
                                  label=f'{model}{RUNTIME_LABELS[runtime]} ({mode})')
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
    """results.json, results.md (the tables, then ``notes``) and results.png in ``out_dir``,
    and profile.md (:func:`profile_report`) when rows carry a ``profile``."""
    paths = {kind: os.path.join(out_dir, f'results.{kind}') for kind in ('json', 'md', 'png')}
    dump(results, paths['json'], indent=2)
    put_text(markdown_table(results) + notes, paths['md'])
    plot_benchmark(results, paths['png'])
    if any(row.get('profile') for row in results['rows']):
        paths['profile'] = os.path.join(out_dir, 'profile.md')
        put_text(profile_report(results), paths['profile'])
    return paths


if __name__ == '__main__':
    # The memory probe's own process (see peak_memory_cpu): one JSON argument, one number out.
    print(json.dumps(probe_peak_memory(**json.loads(sys.argv[1]))))
