"""The long-range study: layouts x distances x seeds on the same-colour boards, with statistics.

Each run trains the benchmark config (``configs/long_range``) with one layout, one distance
between the two deciding cells and one seed, in a fresh ``tools/train.py`` process, and keeps
its final validation accuracy. The records of all runs form a ledger (``long_range.json``, a list
of dicts): a run whose record is already there with the same budget is not trained again, so
the study resumes after an interruption, on this machine or on another one.
"""
import concurrent.futures
import datetime
import math
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.fileio import dump, load

from mmsola.models.backbones.layout import LINEAR, SOFTMAX, preset_layout
from .files import latest_run_scalars
from .plotting import pyplot

METRIC = 'accuracy/top1'
#: The record of a finished run, in its work dir.
RECORD_NAME = 'long_range_run.json'
#: The package's copy of tools/train.py (setup.py: a symlink in editable installs, else a copy).
TRAIN_SCRIPT = osp.join(osp.dirname(osp.dirname(__file__)), '.mim', 'tools', 'train.py')
#: Record fields that must agree for a ledger record to stand for a requested run.
BUDGET_FIELDS = ('max_iters', 'batch_size', 'lr', 'layer_scale_init', 'image_size', 'grid',
                 'val_interval', 'boards')
#: The validation accuracy (%) whose first crossing measures how fast a run learned.
SOLVED = 95.0


def periodic_layout(depths: Sequence[int], period: int = 3) -> Tuple[str, ...]:
    """Softmax in every ``period``-th layer counted over the whole network (a fixed repeating
    pattern, blind to stages): depths (1, 1, 2, 2), period 3 -> ``L, L, SL, LS``."""
    letters = ''.join(SOFTMAX if (i + 1) % period == 0 else LINEAR for i in range(sum(depths)))
    stages, start = [], 0
    for depth in depths:
        stages.append(letters[start:start + depth])
        start += depth
    return tuple(stages)


def study_layouts(depths: Sequence[int]) -> Dict[str, str]:
    """Name -> per-stage letters (comma-separated) of every layout of the study.

    ``sola`` (layer-wise), ``stage`` (the last stage all softmax) and ``periodic`` (every third
    layer) spend the same number of softmax layers when the depths allow it; ``linear`` and
    ``softmax`` are the two ends; ``S@<stage>.<block>`` put one softmax layer at each position of
    the last two stages (the placement sweep).

    Raises:
        ValueError: when the stage-level layout cannot match the ``sola`` budget.
    """
    sola = preset_layout('sola', depths)
    budget = ''.join(sola).count(SOFTMAX)
    stage = [LINEAR * depth for depth in depths]
    remaining, index = budget, len(depths) - 1
    while remaining > 0 and index >= 0:  # whole stages from the last one back
        if depths[index] > remaining:
            break
        stage[index] = SOFTMAX * depths[index]
        remaining -= depths[index]
        index -= 1
    if remaining:
        raise ValueError(f'depths {tuple(depths)}: no whole-stage layout spends the {budget} '
                         "softmax layers of 'sola'")
    layouts = {
        'linear': preset_layout('linear', depths),
        'sola': sola,
        'stage': tuple(stage),
        'periodic': periodic_layout(depths),
        'softmax': preset_layout('softmax', depths),
    }
    for stage_index in range(len(depths) - 2, len(depths)):
        for block in range(depths[stage_index]):
            sweep = [LINEAR * depth for depth in depths]
            sweep[stage_index] = ''.join(SOFTMAX if i == block else LINEAR
                                         for i in range(depths[stage_index]))
            layouts[f'S@{stage_index + 1}.{block + 1}'] = tuple(sweep)
    return {name: ','.join(letters) for name, letters in layouts.items()}


def warmup_iters(max_iters: int) -> int:
    """Linear warm-up length of a run of ``max_iters`` (>= 2) iterations: a sixth of it."""
    if max_iters < 2:
        raise ValueError(f'max_iters must be at least 2, got {max_iters}')
    return max(1, max_iters // 6)


def run_options(letters: str, distance: int, seed: int,
                max_iters: Optional[int] = None, batch_size: Optional[int] = None) -> dict:
    """The ``--cfg-options`` that turn the benchmark config into one run. The seed sets both the
    initialisation and the stream of training boards; the validation boards stay the config's."""
    options = {'model.backbone.layout': letters, 'randomness.seed': seed,
               'train_dataloader.dataset.seed': seed}
    for loader in ('train', 'val', 'test'):
        options[f'{loader}_dataloader.dataset.distance'] = distance
    if batch_size is not None:
        options['train_dataloader.batch_size'] = batch_size
    if max_iters is not None:  # the config's schedule, scaled: warm-up for a sixth, then cosine
        warmup = warmup_iters(max_iters)
        options.update({'train_cfg.max_iters': max_iters,
                        'train_cfg.val_interval': max(1, max_iters // 10),
                        'param_scheduler.0.end': warmup, 'param_scheduler.1.begin': warmup,
                        'param_scheduler.1.end': max_iters})
    return options


def validation_iters(max_iters: int, val_interval: int) -> List[int]:
    """The iterations after which MMEngine's ``IterBasedTrainLoop`` validates: every
    ``val_interval``-th and the last."""
    return [it for it in range(1, max_iters + 1) if it % val_interval == 0 or it == max_iters]


def run_budget(config: str, options: dict) -> dict:
    """Iterations, batch size, learning rate, initial layer scale, validation interval and boards
    (geometry and :func:`~mmsola.datasets.long_range.board_fingerprint`) of a run, read from its
    merged config; the training set is resized to iterations x batch size (every board seen
    once).

    Raises:
        ValueError: when the learning-rate schedule does not end at ``train_cfg.max_iters``.
    """
    from mmsola.datasets.long_range import BoardSpec, board_fingerprint
    from mmsola.engine.cli import load_config
    cfg = load_config(config, cfg_options=options)
    dataset = cfg.train_dataloader.dataset
    schedule_end = cfg.param_scheduler[-1].get('end')
    if schedule_end != cfg.train_cfg.max_iters:
        raise ValueError(f'{config}: param_scheduler[-1].end ({schedule_end}) must equal '
                         f'train_cfg.max_iters ({cfg.train_cfg.max_iters})')
    return dict(max_iters=cfg.train_cfg.max_iters, batch_size=cfg.train_dataloader.batch_size,
                lr=cfg.optim_wrapper.optimizer.lr,
                layer_scale_init=cfg.model.backbone.get('layer_scale_init'),
                image_size=dataset.image_size,
                grid=dataset.grid,
                boards=board_fingerprint(
                    dataset.image_size, dataset.grid,
                    dataset.get('num_distractors', BoardSpec.num_distractors)),
                val_interval=cfg.train_cfg.val_interval,
                val_boards=cfg.val_dataloader.dataset.num_samples)


def train_run(config: str, name: str, letters: str, distance: int, seed: int, work_dir: str,
              budget: dict, threads: int = 1) -> dict:
    """Train one (layout, distance, seed) with the packaged ``tools/train.py`` and return its
    record; a record already in ``work_dir`` with the same budget is returned as it is.
    ``budget`` comes from :func:`run_budget` (read once: mmengine's config parsing is not
    thread-safe).

    Raises:
        RuntimeError: naming the log file when training fails or logs no accuracy.
    """
    record_file = osp.join(work_dir, RECORD_NAME)
    if osp.isfile(record_file):
        record = load(record_file)
        if all(record.get(key) == budget[key] for key in BUDGET_FIELDS):
            return record
    if not osp.isfile(TRAIN_SCRIPT):
        raise FileNotFoundError(f'{TRAIN_SCRIPT} is missing; pip install mmsola (-e) ships it')
    options = run_options(letters, distance, seed, budget['max_iters'], budget['batch_size'])
    options['train_dataloader.dataset.num_samples'] = budget['max_iters'] * budget['batch_size']
    command = [sys.executable, TRAIN_SCRIPT, config, '--work-dir', work_dir, '--cfg-options']
    command += [f'{key}={value}' for key, value in options.items()]
    os.makedirs(work_dir, exist_ok=True)
    log_file = osp.join(work_dir, 'train_stdout.log')
    environment = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.perf_counter()
    with open(log_file, 'w') as log:
        finished = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        raise RuntimeError(f'training {name} at distance {distance}, seed {seed} failed; see '
                           f'{log_file}')
    accuracies = [float(line[METRIC]) for line in latest_run_scalars(work_dir) if METRIC in line]
    if not accuracies:
        raise RuntimeError(f'training {name} logged no {METRIC}; see {log_file}')
    curve_iters = validation_iters(budget['max_iters'], budget['val_interval'])
    if len(curve_iters) != len(accuracies):
        raise RuntimeError(f'training {name} logged {len(accuracies)} validations, expected '
                           f'{len(curve_iters)}; see {log_file}')
    solved_at = next((it for it, acc in zip(curve_iters, accuracies) if acc >= SOLVED), None)
    record = dict(layout=name, letters=letters, distance=distance, seed=seed,
                  accuracy=accuracies[-1], iters_to_solve=solved_at, curve=accuracies,
                  curve_iters=curve_iters, **budget,
                  train_seconds=round(seconds, 1), threads=threads,
                  config=config, work_dir=work_dir,
                  finished=datetime.datetime.now().isoformat(timespec='seconds'))
    dump(record, record_file, indent=2)  # atomic: a kill leaves the old record or none
    return record


def _matches(record: dict, name: str, letters: str, distance: int, seed: int,
             budget: dict) -> bool:
    return (record.get('layout') == name and record.get('letters') == letters
            and record.get('distance') == distance and record.get('seed') == seed
            and all(record.get(key) == budget[key] for key in BUDGET_FIELDS))


def run_long_range_study(config: str, layouts: Dict[str, str], distances: Sequence[int],
                         seeds: Sequence[int], ledger: str, work_root: str, jobs: int = 1,
                         max_iters: Optional[int] = None, batch_size: Optional[int] = None,
                         train: bool = True) -> List[dict]:
    """Train every (layout, distance, seed) missing from ``ledger``, ``jobs`` at a time, each
    with ``cpu_count // jobs`` threads; every finished run is added to the ledger at once.

    Seeds are the outermost loop, so an interrupted study holds whole seeds of every setting.
    Returns the ledger's records of the requested runs (with ``train=False`` only those, nothing
    trained: a report of a study under way).
    """
    records = load(ledger) if osp.isfile(ledger) else []
    if not isinstance(records, list):
        raise ValueError(f'{ledger} must hold a list of run records')
    budget = run_budget(config, run_options('L', 1, 0, max_iters, batch_size))
    wanted, todo = [], []
    for seed in seeds:
        for distance in distances:
            for name, letters in layouts.items():
                key = (name, letters, distance, seed)
                wanted.append(key)
                if not any(_matches(r, *key, budget) for r in records):
                    todo.append(key)
    print(f'{len(wanted) - len(todo)} of {len(wanted)} runs are in {ledger}; ' +
          (f'training {len(todo)}, {jobs} at a time' if train else 'training none'), flush=True)
    if not train:
        todo = []
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(train_run, config, name, letters, distance, seed,
                        osp.join(work_root, f'seed{seed}', f'distance{distance}',
                                 name.replace('@', 'at')), budget, threads):
            (name, letters, distance, seed)
            for name, letters, distance, seed in todo
        }
        try:
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                record = future.result()
                records = [r for r in records if not _matches(r, *futures[future], budget)]
                records.append(record)
                dump(sorted(records, key=lambda r: (r['seed'], r['distance'], r['layout'])),
                     ledger, indent=1)
                print(f"[{done}/{len(todo)}] {record['layout']:>9s} distance "
                      f"{record['distance']} seed {record['seed']}: "
                      f"{record['accuracy']:.1f} % in {record['train_seconds']:.0f} s",
                      flush=True)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [r for r in records if any(_matches(r, *key, budget) for key in wanted)]


def mean_sd(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (NaN for fewer than two values)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean)**2 for v in values) / (len(values) - 1))


def t_interval(values: Sequence[float], level: float = 0.95) -> Tuple[float, float]:
    """Student-t confidence interval of the mean (NaNs for fewer than two values)."""
    from scipy import stats
    if len(values) < 2:
        return (math.nan, math.nan)
    mean, sd = mean_sd(values)
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * sd / math.sqrt(len(values))
    return (mean - half, mean + half)


def run_value(record: dict, key: str = 'accuracy') -> float:
    """``accuracy`` (%) or ``iters_to_solve`` of a run; a run that never reached :data:`SOLVED`
    counts as solved one validation after its last iteration (a lower bound)."""
    if key == 'iters_to_solve' and record.get(key) is None:
        return float(record['max_iters'] + record['val_interval'])
    return float(record[key])


def has_learning_speed(records: Sequence[dict]) -> bool:
    """Whether every record has ``iters_to_solve`` (ledgers written before it was kept do not)."""
    return all('iters_to_solve' in record for record in records)


def summarise_layouts(records: Sequence[dict]) -> List[dict]:
    """One row per (layout, distance): n, mean, sd, 95 % t-interval and every seed's accuracy,
    and every seed's iterations to :data:`SOLVED` (None: not within the budget) with their
    mean (counting those as in :func:`run_value`)."""
    groups: Dict[Tuple[str, int], List[dict]] = {}
    for record in records:
        groups.setdefault((record['layout'], record['distance']), []).append(record)
    rows = []
    for (layout, distance), group in groups.items():
        group = sorted(group, key=lambda r: r['seed'])
        values = [r['accuracy'] for r in group]
        mean, sd = mean_sd(values)
        rows.append(dict(layout=layout, letters=group[0]['letters'], distance=distance,
                         n=len(values), mean=mean, sd=sd, ci95=list(t_interval(values)),
                         seeds={r['seed']: r['accuracy'] for r in group},
                         iters_to_solve={r['seed']: r.get('iters_to_solve') for r in group},
                         mean_iters_to_solve=mean_sd(
                             [run_value(r, 'iters_to_solve') for r in group])[0]
                         if has_learning_speed(group) else math.nan))
    return rows


def compare(records: Sequence[dict], first: str, second: str, distance: int,
            key: str = 'accuracy') -> dict:
    """``first`` minus ``second`` at one distance, paired by seed, in ``key`` (see
    :func:`run_value`): mean difference, its 95 % t-interval and the two-sided p-value of the
    paired t-test."""
    from scipy import stats
    by_seed = {layout: {r['seed']: run_value(r, key) for r in records
                        if r['layout'] == layout and r['distance'] == distance}
               for layout in (first, second)}
    seeds = sorted(set(by_seed[first]) & set(by_seed[second]))
    differences = [by_seed[first][s] - by_seed[second][s] for s in seeds]
    result = dict(first=first, second=second, distance=distance, key=key, seeds=seeds,
                  differences=differences)
    if len(seeds) < 2:
        return dict(result, mean=math.nan, ci95=[math.nan, math.nan], p=math.nan)
    mean = mean_sd(differences)[0]
    if all(d == differences[0] for d in differences):
        p = 1.0 if mean == 0 else 0.0  # no spread: the t statistic is undefined
    else:
        p = float(stats.ttest_rel([by_seed[first][s] for s in seeds],
                                  [by_seed[second][s] for s in seeds]).pvalue)
    return dict(result, mean=mean, ci95=list(t_interval(differences)), p=p)


def _interval(values: Sequence[float]) -> str:
    return '-' if any(math.isnan(v) for v in values) else f'[{values[0]:.1f}, {values[1]:.1f}]'


def format_study(records: Sequence[dict], comparisons: Sequence[dict]) -> str:
    """Markdown: mean +- sd (95 % CI) per layout and distance, every seed, iterations to
    :data:`SOLVED` per seed (when the records have them), then the comparisons."""
    rows = summarise_layouts(records)
    distances = sorted({row['distance'] for row in rows})
    layouts = list(dict.fromkeys(r['layout'] for r in sorted(
        records, key=lambda r: (r['letters'].count(SOFTMAX) != 0, r['layout']))))
    cell = {(row['layout'], row['distance']): row for row in rows}
    header = ['layout', 'mixers per stage'] + [f'distance {d}' for d in distances]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for layout in layouts:
        letters = next(r['letters'] for r in rows if r['layout'] == layout)
        values = []
        for distance in distances:
            row = cell.get((layout, distance))
            values.append('-' if row is None else
                          f"{row['mean']:.1f} ± {row['sd']:.1f} {_interval(row['ci95'])} "
                          f"(n={row['n']})")
        lines.append(f"| {layout} | `{letters}` | " + ' | '.join(values) + ' |')

    def per_seed(title: str, text) -> None:
        lines.extend(['', title, '', '| layout | ' + ' | '.join(f'distance {d}' for d in distances)
                      + ' |', '|---|' + '---|' * len(distances)])
        for layout in layouts:
            values = [text(cell[(layout, d)]) if (layout, d) in cell else '-' for d in distances]
            lines.append(f'| {layout} | ' + ' | '.join(values) + ' |')

    per_seed('Every seed (accuracy %, seed: value):',
             lambda row: ', '.join(f'{s}: {v:.1f}' for s, v in row['seeds'].items()))
    if has_learning_speed(records):
        first = records[0]
        per_seed(f"Iterations until the validation accuracy first reached {SOLVED:g} % "
                 f"(validated every {first['val_interval']}; 'never': not in "
                 f"{first['max_iters']}), mean (never counted as "
                 f"{first['max_iters'] + first['val_interval']}) and every seed:",
                 lambda row: f"{row['mean_iters_to_solve']:.0f} (" + ', '.join(
                     f"{s}: {'never' if v is None else v}"
                     for s, v in row['iters_to_solve'].items()) + ')')
    if comparisons:
        lines += ['', 'Paired by seed (first minus second):', '',
                  '| comparison | measure | distance | seeds | mean difference | 95 % CI | '
                  'p (paired t) |', '|---|---|---|---|---|---|---|']
        for c in comparisons:
            mean, p = (('-', '-') if math.isnan(c['mean']) else
                       (f"{c['mean']:+.1f}", f"{c['p']:.3g}"))  # fewer than two seeds
            measure = ('accuracy (points)' if c.get('key', 'accuracy') == 'accuracy' else
                       f'iterations to {SOLVED:g} %')
            lines.append(f"| {c['first']} - {c['second']} | {measure} | {c['distance']} | "
                         f"{len(c['seeds'])} | {mean} | {_interval(c['ci95'])} | {p} |")
    return '\n'.join(lines) + '\n'


def plot_study(records: Sequence[dict], path: str, title: str) -> None:
    """Accuracy against distance, one line per layout (mean, 95 % interval as error bars, every
    seed as a dot), the placement sweep in a second panel; below them, when the records have
    it, the iterations to :data:`SOLVED` the same way."""
    plt = pyplot()
    rows = summarise_layouts(records)
    speed = has_learning_speed(records)
    fig, axes = plt.subplots(1 + speed, 2, figsize=(10, 3.8 * (1 + speed)), sharey='row',
                             squeeze=False)
    for (row_index, sweep), ax in zip(((r, s) for r in range(1 + speed) for s in (False, True)),
                                      axes.flat):
        key = 'accuracy' if row_index == 0 else 'iters_to_solve'
        names = sorted({r['layout'] for r in rows if r['layout'].startswith('S@') == sweep})
        for offset, name in enumerate(names):
            mine = sorted((r for r in records if r['layout'] == name),
                          key=lambda r: (r['distance'], r['seed']))
            by_distance: Dict[int, List[float]] = {}
            for record in mine:
                by_distance.setdefault(record['distance'], []).append(run_value(record, key))
            shift = (offset - (len(names) - 1) / 2) * 0.06
            xs = [distance + shift for distance in by_distance]
            means = [mean_sd(values)[0] for values in by_distance.values()]
            intervals = [t_interval(values) for values in by_distance.values()]
            errors = [[0 if math.isnan(low) else mean - low for mean, (low, _) in
                       zip(means, intervals)],
                      [0 if math.isnan(high) else high - mean for mean, (_, high) in
                       zip(means, intervals)]]
            line = ax.errorbar(xs, means, yerr=errors, marker='o', capsize=3, label=name)
            for x, values in zip(xs, by_distance.values()):
                ax.scatter([x] * len(values), values, s=8, alpha=0.5, color=line[0].get_color())
        ax.set(xlabel='distance between the deciding cells (cells per axis)',
               xticks=sorted({r['distance'] for r in rows}),
               title='one softmax layer at each position' if sweep else 'layouts')
        if key == 'accuracy':
            ax.axhline(50, color='grey', linestyle='--', linewidth=1)
            ax.set_ylim(40, 102)
        if names:
            ax.legend(fontsize=7, loc='lower left' if key == 'accuracy' else 'upper left')
    axes[0, 0].set_ylabel('val accuracy (%), mean and 95 % CI')
    if speed:
        first = records[0]
        axes[1, 0].set_ylabel(f'iterations to {SOLVED:g} % val accuracy\n(never: '
                              f"{first['max_iters'] + first['val_interval']})")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
