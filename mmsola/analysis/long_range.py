"""Train one small model per layout on the long-range and control tasks; tabulate and plot.

Every run is ``tools/train.py`` on the same config with only ``model.backbone.layout`` and the
task's data root changed (same seed, schedule, batch and data), in its own process and work
dir. The accuracy is the last validation accuracy that run logged; params and FLOPs are counted
at the images' size with :func:`mmsola.analysis.model_builder.model_complexity`; time is the
wall time of the training process. A run whose work dir already holds its record is not
repeated (``force`` repeats it), so an interrupted benchmark resumes where it stopped.
"""
import datetime
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from mmsola.datasets.long_range import LONG_RANGE_TASKS
from .model_builder import build_model_from_config, model_complexity
from .results_table import (is_training_line, numeric_metrics, read_json_lines, run_dirs,
                            scalars_file)

RECORD_NAME = 'long_range_run.json'
METRIC = 'accuracy/top1'
TRAIN_SCRIPT = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools',
                        'train.py')


def task_overrides(task: str, layout: str, data_root: str, max_iters: Optional[int] = None,
                   seed: Optional[int] = None) -> Dict[str, object]:
    """The ``--cfg-options`` that turn the benchmark config into the run (task, layout)."""
    if task not in LONG_RANGE_TASKS:
        raise ValueError(f'unknown long-range task {task!r}; tasks: {LONG_RANGE_TASKS}')
    task_root = osp.join(data_root, task) + '/'
    options: Dict[str, object] = {
        'model.backbone.layout': layout,
        'train_dataloader.dataset.data_root': task_root,
        'val_dataloader.dataset.data_root': task_root,
        'test_dataloader.dataset.data_root': task_root,
    }
    if seed is not None:
        options['randomness.seed'] = seed
    if max_iters is not None:
        options.update({
            'train_cfg.max_iters': max_iters,
            'train_cfg.val_interval': max(1, max_iters // 2),
        })
    return options


def validation_accuracies(work_dir: str) -> List[float]:
    """Every validation accuracy the work dir's runs logged, in order."""
    accuracies = []
    for run_dir in run_dirs(work_dir):
        path = scalars_file(run_dir)
        if path is None:
            continue
        accuracies += [float(entry[METRIC]) for entry in read_json_lines(path)
                       if not is_training_line(entry) and METRIC in numeric_metrics(entry)]
    return accuracies


def train_one(config: str, task: str, layout: str, work_dir: str, data_root: str,
              max_iters: Optional[int] = None, force: bool = False,
              seed: Optional[int] = None) -> dict:
    """Train (task, layout) in a fresh process unless its record exists; returns the record.

    Raises:
        RuntimeError: the training process failed; names its log file.
    """
    record_file = osp.join(work_dir, RECORD_NAME)
    if osp.isfile(record_file) and not force:
        with open(record_file) as f:
            return json.load(f)
    os.makedirs(work_dir, exist_ok=True)
    options = task_overrides(task, layout, data_root, max_iters, seed)
    command = [sys.executable, TRAIN_SCRIPT, config, '--work-dir', work_dir, '--cfg-options']
    command += [f'{key}={value}' for key, value in options.items()]
    log_file = osp.join(work_dir, 'train_stdout.log')
    start = time.perf_counter()
    with open(log_file, 'w') as log:
        finished = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        raise RuntimeError(f'training {task}/{layout} failed (exit {finished.returncode}); '
                           f'see {log_file}')
    accuracies = validation_accuracies(work_dir)
    if not accuracies:
        raise RuntimeError(f'training {task}/{layout} logged no {METRIC}; see {log_file}')
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    # mmengine validates every val_interval iterations and after the last one
    interval, last = cfg.train_cfg.val_interval, cfg.train_cfg.max_iters
    curve = [dict(iter=min((k + 1) * interval, last), accuracy=accuracy)
             for k, accuracy in enumerate(accuracies)]
    record = dict(task=task, layout=layout, seed=cfg.randomness.get('seed'),
                  accuracy=curve[-1]['accuracy'], curve=curve,
                  train_seconds=round(seconds, 1), max_iters=cfg.train_cfg.max_iters,
                  batch_size=cfg.train_dataloader.batch_size, work_dir=work_dir,
                  finished=datetime.datetime.now().isoformat(timespec='seconds'))
    with open(record_file, 'w') as f:
        json.dump(record, f, indent=2)
    return record


def layout_complexity(config: str, layout: str, image_size: int) -> dict:
    """Params, FLOPs (MACs) at ``image_size`` and the per-stage mixer letters of one layout."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({'model.backbone.layout': layout})
    model = build_model_from_config(cfg)
    result = model_complexity(model, cfg.default_scope, image_size, image_size)
    return dict(params=int(result['params']), flops=int(result['flops']),
                letters=','.join(model.backbone.layout))


def run_benchmark(config: str, layouts: Sequence[str], tasks: Sequence[str], data_root: str,
                  work_root: str, image_size: int, max_iters: Optional[int] = None,
                  force: bool = False, seed: Optional[int] = None) -> dict:
    """Every (task, layout) run, one after another; returns the benchmark's results dict.

    ``seed`` overrides the config's ``randomness.seed``; its runs get their own work dirs
    (``<work_root>/seed<N>/<task>/<layout>``).
    """
    if seed is not None:
        work_root = osp.join(work_root, f'seed{seed}')
    complexity = {layout: layout_complexity(config, layout, image_size) for layout in layouts}
    runs = []
    for layout in layouts:
        for task in tasks:
            record = train_one(config, task, layout, osp.join(work_root, task, layout),
                               data_root, max_iters, force, seed)
            runs.append(dict(record, **complexity[layout]))
            print(f"{task:>10s} {layout:>8s}: accuracy {record['accuracy']:.1f} % "
                  f"in {record['train_seconds']:.0f} s", flush=True)
    return dict(config=config, image_size=image_size, data_root=data_root,
                date=datetime.date.today().isoformat(), threads=os.environ.get(
                    'OMP_NUM_THREADS', str(os.cpu_count())), runs=runs)


def format_table(results: dict) -> str:
    """Markdown: one row per layout, accuracy on each task, params, FLOPs, training time."""
    runs = results['runs']
    tasks = [t for t in LONG_RANGE_TASKS if any(r['task'] == t for r in runs)]
    layouts = list(dict.fromkeys(r['layout'] for r in runs))
    by_key = {(r['task'], r['layout']): r for r in runs}
    size = results['image_size']
    header = (['layout', 'mixers per stage'] + [f'{t} acc. (%)' for t in tasks] +
              ['params', f'FLOPs @{size}x{size}'] + [f'{t} train time' for t in tasks])
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for layout in layouts:
        first = next(r for r in runs if r['layout'] == layout)
        row = [layout, f"`{first['letters']}`"]
        row += [f"{by_key[t, layout]['accuracy']:.1f}" if (t, layout) in by_key else '-'
                for t in tasks]
        row += [f"{first['params'] / 1e6:.2f} M", f"{first['flops'] / 1e9:.3f} G"]
        row += [f"{by_key[t, layout]['train_seconds'] / 60:.1f} min" if (t, layout) in by_key
                else '-' for t in tasks]
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines) + '\n'


def plot_results(results: dict, path: str) -> None:
    """Grouped bars of final accuracy per layout and task, with the 50 % chance line."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    runs = results['runs']
    tasks = [t for t in LONG_RANGE_TASKS if any(r['task'] == t for r in runs)]
    layouts = list(dict.fromkeys(r['layout'] for r in runs))
    by_key = {(r['task'], r['layout']): r for r in runs}
    width = 0.8 / len(tasks)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for offset, task in enumerate(tasks):
        xs = [i + (offset - (len(tasks) - 1) / 2) * width for i in range(len(layouts))]
        accuracies = [by_key[task, l]['accuracy'] if (task, l) in by_key else 0 for l in layouts]
        bars = ax.bar(xs, accuracies, width, label=task.replace('_', '-'))
        ax.bar_label(bars, fmt='%.1f', fontsize=8)
    ax.axhline(50, color='grey', linestyle='--', linewidth=1, label='chance')
    ax.set_xticks(range(len(layouts)), layouts)
    ax.set_ylabel('val accuracy (%)')
    ax.set_ylim(0, 105)
    ax.set_title(f"same colour? {results['image_size']}x{results['image_size']}, "
                 f"{runs[0]['max_iters']} iters x batch {runs[0]['batch_size']}, "
                 f"{results['date']}", fontsize=9)
    ax.legend(fontsize=8, loc='lower right')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict, out_dir: str) -> List[str]:
    """``long_range.json``, ``long_range.md`` and ``long_range.png`` in ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [osp.join(out_dir, f'long_range.{ext}') for ext in ('json', 'md', 'png')]
    with open(paths[0], 'w') as f:
        json.dump(results, f, indent=2)
    with open(paths[1], 'w') as f:
        f.write(f"Long-range benchmark, {results['date']}, config `{results['config']}`\n\n")
        f.write(format_table(results))
    plot_results(results, paths[2])
    return paths
