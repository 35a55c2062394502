"""Training-step time of configs, under one or several checkouts of mmsola, side by side.

    python tools/analysis_tools/train_step_time.py CONFIG [CONFIG ...]
        [--checkouts DIR [DIR ...]] [--steps 20] [--rounds 3] [--threads 2] [--json FILE]

Times ``model.train_step`` (data preprocessing, forward, loss, backward, optimizer step) on one
fixed batch of each config's train dataloader, after two untimed steps. Every (checkout, config)
runs in its own process, which imports that checkout's mmsola (a checkout is a folder with
``mmsola/`` and the config, e.g. ``git worktree add ../mmsola-before HEAD~3``; the default is
this one); the processes take turns round by round, so slow drifts of the machine hit all alike.
Prints, per config, the median step time of every checkout and its ratio to the first checkout.
Relative data roots in the configs resolve against the current directory.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Dict, List

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def time_train_steps(checkout: str, config: str, steps: int, threads: int) -> List[float]:
    """Seconds of ``steps`` training steps of ``config`` with ``checkout``'s mmsola (run in a
    process of its own: mmsola is imported from ``checkout``, not from the installation)."""
    # An editable install maps `mmsola` to its own folder ahead of sys.path: drop that finder.
    sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]
    sys.path.insert(0, checkout)
    import time

    import torch
    torch.set_num_threads(threads)
    import mmsola
    if not os.path.abspath(mmsola.__file__).startswith(os.path.abspath(checkout) + os.sep):
        raise RuntimeError(f'mmsola was imported from {mmsola.__file__}, not from {checkout}')
    from mmengine.config import Config
    from mmengine.runner import Runner

    import tempfile
    cfg = Config.fromfile(os.path.join(checkout, config))
    cfg.work_dir = tempfile.mkdtemp(prefix='mmsola-train-step-')
    cfg.log_level = 'ERROR'
    runner = Runner.from_cfg(cfg)
    torch.manual_seed(0)
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    model = runner.model
    model.train()
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        model.train_step(batch, optim_wrapper)
        times.append(time.perf_counter() - start)
    return times[2:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='+', help='config paths, relative to each checkout')
    parser.add_argument('--checkouts', nargs='+', default=[REPO_ROOT],
                        help='mmsola checkouts to compare (default: this one)')
    parser.add_argument('--steps', type=int, default=20, help='timed steps per process')
    parser.add_argument('--rounds', type=int, default=3, help='processes per checkout and config')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--json', help='also write the step times to this file')
    parser.add_argument('--worker', nargs=2, metavar=('CHECKOUT', 'CONFIG'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(time_train_steps(*args.worker, args.steps, args.threads)))
        return
    for checkout in args.checkouts:
        for config in args.configs:
            if not os.path.isfile(os.path.join(checkout, config)):
                parser.error(f'no config {config} in checkout {checkout}')

    times: Dict[str, Dict[str, List[float]]] = {c: {k: [] for k in args.checkouts}
                                                for c in args.configs}
    for round_index in range(args.rounds):
        for config in args.configs:
            for checkout in args.checkouts:
                command = [sys.executable, os.path.abspath(__file__), config, '--worker', checkout,
                           config, '--steps', str(args.steps), '--threads', str(args.threads)]
                out = subprocess.run(command, capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit(f'{checkout} {config} failed:\n{out.stderr[-3000:]}')
                steps = json.loads(out.stdout.strip().splitlines()[-1])
                times[config][checkout] += steps
                print(f'round {round_index + 1}: {checkout} {config}: median '
                      f'{statistics.median(steps) * 1e3:.1f} ms', flush=True)
    print()
    for config, by_checkout in times.items():
        first = statistics.median(by_checkout[args.checkouts[0]])
        for checkout, samples in by_checkout.items():
            median = statistics.median(samples)
            print(f'{config} | {checkout} | median {median * 1e3:.1f} ms over {len(samples)} '
                  f'steps | min {min(samples) * 1e3:.1f} ms | time / first checkout '
                  f'{median / first:.2f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(times, f, indent=2)


if __name__ == '__main__':
    main()
