"""The demo classifier with each normaliser of linear attention under rotary encoding.

    python tools/analysis_tools/normaliser_study.py                       # 2 normalisers x 3 seeds
    python tools/analysis_tools/normaliser_study.py --lrs 1e-3 4e-3 1e-2 --seeds 0

Trains ``configs/demo/sola-mini_shapes.py`` (its full budget) once per normaliser
(``'pair_norm'``: mmsola's bounded one; ``'unrotated'``: MALA's released code), learning rate
and seed, two runs at a time with one thread each, and evaluates each on the held-out split.
Every finished run is a record of ``--out-dir``/normaliser_study.json (a run already there is
not trained again); the table of all records is written next to it as normaliser_study.md.
Needs data/shapes (``python tools/data/generate_shapes.py``).
"""
import argparse
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mmsola.analysis import latest_run_scalars

CONFIG = 'configs/demo/sola-mini_shapes.py'
NORMALISERS = ('pair_norm', 'unrotated')


def run_name(normaliser: str, lr: float, seed: int) -> str:
    return f'{normaliser}_lr{lr:g}_seed{seed}'


def train(normaliser: str, lr: float, seed: int, work_root: str) -> dict:
    """One training run of the demo classifier; returns its record."""
    work_dir = osp.join(work_root, run_name(normaliser, lr, seed))
    cmd = [
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
        f'randomness.seed={seed}', f'optim_wrapper.optimizer.lr={lr}',
        'model.backbone.mixers.L.type=mmsola.MagnitudeAwareLinearAttention',
        f'model.backbone.mixers.L.normaliser={normaliser}'
    ]
    start = time.time()
    env = dict(os.environ, OMP_NUM_THREADS='1')
    with open(work_dir + '.log', 'w') as log:
        returncode = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    losses, accuracy = [], None
    for entry in latest_run_scalars(work_dir) if returncode == 0 else []:
        if 'loss' in entry:
            losses.append(entry['loss'])
        if 'accuracy/top1' in entry:
            accuracy = entry['accuracy/top1']
    return dict(normaliser=normaliser, lr=lr, seed=seed, returncode=returncode,
                val_top1=accuracy, final_loss=losses[-1] if losses else None,
                max_loss=max(losses) if losses else None,
                finite=all(math.isfinite(x) for x in losses), wall_s=round(time.time() - start),
                date=time.strftime('%Y-%m-%d'), command=' '.join(cmd))


def table(records: list) -> str:
    """Markdown: one row per (normaliser, lr) with every seed's top-1 and their mean."""
    groups = {}
    for record in records:
        groups.setdefault((record['lr'], record['normaliser']), []).append(record)
    lines = ['| lr | normaliser | val top-1 per seed (%) | mean | final loss per seed | '
             'wall time per run |', '|---|---|---|---|---|---|']
    for (lr, normaliser), runs in sorted(groups.items()):
        runs.sort(key=lambda r: r['seed'])
        accs = [r['val_top1'] for r in runs]
        cells = ' / '.join(f"{a:.1f} (s{r['seed']})" if a is not None else f"failed (s{r['seed']})"
                           for a, r in zip(accs, runs))
        done = [a for a in accs if a is not None]
        mean = f'{statistics.mean(done):.1f}' if done else '-'
        loss = ' / '.join('nan' if not r['finite'] else f"{r['final_loss']:.3f}" for r in runs)
        wall = ' / '.join(f"{r['wall_s']} s" for r in runs)
        lines.append(f'| {lr:g} | {normaliser} | {cells} | {mean} | {loss} | {wall} |')
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--normalisers', nargs='+', default=list(NORMALISERS),
                        choices=NORMALISERS)
    parser.add_argument('--lrs', nargs='+', type=float, default=[1e-3])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--jobs', type=int, default=2, help='runs at a time (one thread each)')
    parser.add_argument('--work-dir', default='work_dirs/normaliser_study')
    parser.add_argument('--out-dir', default='docs/analysis/normaliser')
    args = parser.parse_args()

    os.makedirs(args.work_dir, exist_ok=True)
    os.makedirs(args.out_dir, exist_ok=True)
    ledger = osp.join(args.out_dir, 'normaliser_study.json')
    records = json.load(open(ledger)) if osp.exists(ledger) else []
    done = {run_name(r['normaliser'], r['lr'], r['seed']) for r in records}
    todo = [(n, lr, s) for lr in args.lrs for s in args.seeds for n in args.normalisers
            if run_name(n, lr, s) not in done]

    lock = threading.Lock()

    def record(run):
        result = train(*run, args.work_dir)
        with lock:
            records.append(result)
            with open(ledger + '.tmp', 'w') as f:
                json.dump(records, f, indent=1)
            os.replace(ledger + '.tmp', ledger)
        print(json.dumps({k: result[k] for k in ('normaliser', 'lr', 'seed', 'val_top1',
                                                 'final_loss', 'wall_s')}), flush=True)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(record, todo))
    text = table(records)
    with open(osp.join(args.out_dir, 'normaliser_study.md'), 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
