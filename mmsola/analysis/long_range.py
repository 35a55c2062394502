"""Train one small model per layout on the long-range and control tasks; tabulate and plot."""
import datetime
import itertools
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from mmengine.fileio import dump, load, put_text

from mmsola.datasets.long_range import LONG_RANGE_TASKS
from mmsola.engine.cli import load_config
from .flops import model_complexity
from .loader import latest_run_scalars, load_model
from .plotting import pyplot

RECORD_NAME = 'long_range_run.json'
METRIC = 'accuracy/top1'
#: The package's copy of tools/train.py (setup.py: a symlink in editable installs, else a copy).
TRAIN_SCRIPT = osp.join(osp.dirname(osp.dirname(__file__)), '.mim', 'tools', 'train.py')


def task_overrides(task: str, layout: str, data_root: str, max_iters: Optional[int] = None,
                   seed: Optional[int] = None) -> Dict[str, object]:
    """The ``--cfg-options`` that turn the benchmark config into the run (task, layout)."""
    if task not in LONG_RANGE_TASKS:
        raise ValueError(f'unknown long-range task {task!r}; tasks: {LONG_RANGE_TASKS}')
    options: Dict[str, object] = {'model.backbone.layout': layout}
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.dataset.data_root'] = osp.join(data_root, task) + '/'
    if seed is not None:
        options['randomness.seed'] = seed
    if max_iters is not None:
        options.update({'train_cfg.max_iters': max_iters,
                        'train_cfg.val_interval': max(1, max_iters // 2)})
    return options


def train_one(config: str, task: str, layout: str, work_dir: str, options: Dict[str, object],
              force: bool = False) -> dict:
    """Train (task, layout) with ``options`` in a fresh ``tools/train.py`` process unless its work
    dir holds its record (``force``: even then); the record holds the validation curve of the
    work dir's newest run, wall time and budget. Raises RuntimeError naming the log on failure."""
    record_file = osp.join(work_dir, RECORD_NAME)
    if osp.isfile(record_file) and not force:
        return load(record_file)
    if not osp.isfile(TRAIN_SCRIPT):
        raise FileNotFoundError(f'{TRAIN_SCRIPT} is missing; pip install mmsola (-e) ships it')
    command = [sys.executable, TRAIN_SCRIPT, config, '--work-dir', work_dir, '--cfg-options']
    command += [f'{key}={value}' for key, value in options.items()]
    os.makedirs(work_dir, exist_ok=True)
    log_file = osp.join(work_dir, 'train_stdout.log')
    start = time.perf_counter()
    with open(log_file, 'w') as log:
        finished = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        raise RuntimeError(f'training {task}/{layout} failed; see {log_file}')
    accuracies = [float(line[METRIC]) for line in latest_run_scalars(work_dir) if METRIC in line]
    if not accuracies:
        raise RuntimeError(f'training {task}/{layout} logged no {METRIC}; see {log_file}')
    cfg = load_config(config, cfg_options=options)  # validated every val_interval and at the end
    curve = [dict(iter=min((k + 1) * cfg.train_cfg.val_interval, cfg.train_cfg.max_iters),
                  accuracy=accuracy) for k, accuracy in enumerate(accuracies)]
    record = dict(task=task, layout=layout, seed=cfg.randomness.get('seed'),
                  accuracy=curve[-1]['accuracy'], curve=curve, train_seconds=round(seconds, 1),
                  max_iters=cfg.train_cfg.max_iters, batch_size=cfg.train_dataloader.batch_size,
                  work_dir=work_dir, finished=datetime.datetime.now().isoformat(timespec='seconds'))
    dump(record, record_file, indent=2)  # atomic: a kill leaves the old record or none
    return record


def run_long_range_benchmark(config: str, layouts: Sequence[str], tasks: Sequence[str],
                             data_root: str, work_root: str, image_size: int,
                             max_iters: Optional[int] = None, force: bool = False,
                             seed: Optional[int] = None) -> dict:
    """Every (task, layout) run, one after another, with params and FLOPs (MACs) at the image
    size; a ``seed`` overriding the config's goes to ``<work_root>/seed<N>/<task>/<layout>``."""
    work_root = work_root if seed is None else osp.join(work_root, f'seed{seed}')
    complexity = {}
    for layout in layouts:  # all counted first: a layout the config cannot take fails at once
        model = load_model(config, cfg_options={'model.backbone.layout': layout})
        counted = model_complexity(model, model.cfg.default_scope, image_size, image_size)
        complexity[layout] = dict(params=int(counted['params']), flops=int(counted['flops']),
                                  letters=','.join(model.backbone.layout))
    runs = []
    for layout, task in itertools.product(layouts, tasks):
        record = train_one(config, task, layout, osp.join(work_root, task, layout),
                           task_overrides(task, layout, data_root, max_iters, seed), force)
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
    by_key = {(r['task'], r['layout']): r for r in runs}
    header = (['layout', 'mixers per stage'] + [f'{t} acc. (%)' for t in tasks] + ['params',
              'FLOPs @{0}x{0}'.format(results['image_size'])] + [f'{t} train time' for t in tasks])
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for layout in dict.fromkeys(r['layout'] for r in runs):
        first = next(r for r in runs if r['layout'] == layout)
        per_task = [by_key.get((task, layout)) for task in tasks]
        row = ([layout, f"`{first['letters']}`"] +
               [f"{r['accuracy']:.1f}" if r else '-' for r in per_task] +
               [f"{first['params'] / 1e6:.2f} M", f"{first['flops'] / 1e9:.3f} G"] +
               [f"{r['train_seconds'] / 60:.1f} min" if r else '-' for r in per_task])
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines) + '\n'


def plot_long_range(results: dict, path: str) -> None:
    """Grouped bars of final accuracy per layout and task, with the 50 % chance line."""
    plt, runs, size = pyplot(), results['runs'], results['image_size']
    tasks = [t for t in LONG_RANGE_TASKS if any(r['task'] == t for r in runs)]
    layouts = list(dict.fromkeys(r['layout'] for r in runs))
    accuracy = {(r['task'], r['layout']): r['accuracy'] for r in runs}
    width = 0.8 / len(tasks)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for offset, task in enumerate(tasks):
        xs = [i + (offset - (len(tasks) - 1) / 2) * width for i in range(len(layouts))]
        bars = ax.bar(xs, [accuracy.get((task, layout), 0) for layout in layouts], width,
                      label=task.replace('_', '-'))
        ax.bar_label(bars, fmt='%.1f', fontsize=8)
    ax.axhline(50, color='grey', linestyle='--', linewidth=1, label='chance')
    ax.set(xticks=range(len(layouts)), xticklabels=layouts, ylabel='val accuracy (%)',
           ylim=(0, 105))
    ax.set_title(f"same colour? {size}x{size}, {runs[0]['max_iters']} iters x batch "
                 f"{runs[0]['batch_size']}, {results['date']}", fontsize=9)
    ax.legend(fontsize=8, loc='lower right')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_long_range_report(results: dict, out_dir: str) -> List[str]:
    """``long_range.json``, ``long_range.md`` and ``long_range.png`` in ``out_dir``."""
    paths = [osp.join(out_dir, f'long_range.{ext}') for ext in ('json', 'md', 'png')]
    dump(results, paths[0], indent=2)
    put_text(f"Long-range benchmark, {results['date']}, config `{results['config']}`\n\n" +
             format_table(results), paths[1])
    plot_long_range(results, paths[2])
    return paths
