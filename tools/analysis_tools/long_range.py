"""Long-range benchmark: one small model per layout, trained on the long-range and control tasks.

    python tools/analysis_tools/long_range.py [--layouts linear sola stage softmax]
        [--tasks long_range control] [--iters N] [--out-dir docs/analysis/long_range] ...

Generates data/long_range if needed (tools/data/generate_shapes.py long-range), trains every
(task, layout) under the same budget with the packaged tools/train.py (mmsola/.mim/tools), and
writes long_range.{json,md,png}. Runs already recorded in their work dir are reused unless
--force.
"""
import argparse
import dataclasses

from mmsola.analysis.long_range import run_long_range_benchmark, write_long_range_report
from mmsola.datasets import LONG_RANGE_TASKS, LongRangeSpec, generate_long_range
from mmsola.models.backbones.layout import LAYOUT_PRESETS

DEFAULT_CONFIG = 'configs/long_range/sola-mini_long-range-160.py'


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='default: %(default)s')
    parser.add_argument('--layouts', nargs='+', default=['linear', 'sola', 'stage', 'softmax'],
                        help='presets or per-stage letter strings (default: %(default)s)')
    parser.add_argument('--tasks', nargs='+', choices=LONG_RANGE_TASKS,
                        default=list(LONG_RANGE_TASKS))
    parser.add_argument('--iters', type=int, help="training iterations (default: the config's)")
    parser.add_argument('--data-root', default='data/long_range')
    parser.add_argument('--image-size', type=int, default=LongRangeSpec.image_size,
                        help='generated image side (default: %(default)s)')
    parser.add_argument('--num-train', type=int, default=LongRangeSpec.num_train)
    parser.add_argument('--num-val', type=int, default=LongRangeSpec.num_val)
    parser.add_argument('--grid', type=int, default=LongRangeSpec.grid)
    parser.add_argument('--work-dir', default='work_dirs/long_range')
    parser.add_argument('--out-dir', default='work_dirs/long_range/report')
    parser.add_argument('--seed', type=int, help="training seed (default: the config's); runs "
                        'of another seed go to <work-dir>/seed<N>')
    parser.add_argument('--force', action='store_true', help='retrain runs already recorded')
    args = parser.parse_args(argv)
    for layout in args.layouts:
        if layout not in LAYOUT_PRESETS and ',' not in layout:
            parser.error(f'--layouts: {layout!r} is neither a preset {sorted(LAYOUT_PRESETS)} '
                         "nor per-stage letters such as 'L,L,LLS,S'")

    spec = dataclasses.replace(LongRangeSpec(), image_size=args.image_size, grid=args.grid,
                               num_train=args.num_train, num_val=args.num_val)
    summary = generate_long_range(args.data_root, spec)
    print(f"data: {summary['root']} ({'reused' if summary['reused'] else 'written'})")
    results = run_long_range_benchmark(args.config, args.layouts, args.tasks, args.data_root,
                                       args.work_dir, args.image_size, args.iters, args.force,
                                       args.seed)
    for path in write_long_range_report(results, args.out_dir):
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
