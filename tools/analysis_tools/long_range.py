"""Long-range study: every layout x distance x seed on the same-colour boards, with statistics.

    python tools/analysis_tools/long_range.py [--layouts linear sola ...] [--distances 1 2 3 ...]
        [--seeds 0 1 2] [--jobs 2] [--iters N] [--batch-size N] [--out-dir DIR] [--no-erf]
        [--report-only]

Trains each run with the packaged tools/train.py (boards drawn on the fly, nothing to generate)
and adds its record to <out-dir>/long_range.json as soon as it finishes; runs already there
(same layout, distance, seed and budget) are not trained again, so the command resumes. Writes
long_range_summary.json (mean, sd, 95 % t-intervals; paired comparisons of the final accuracy
and of the iterations to 95 % validation accuracy), long_range.md and long_range.png, and,
unless --no-erf, the per-layer ERF of the trained all-linear and 'sola' models at the largest
distance (erf/).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

import numpy as np
from mmengine.fileio import dump, put_text
from mmengine.utils import mkdir_or_exist

from mmsola.analysis.long_range import (compare, format_study, has_learning_speed, plot_study,
                                        run_long_range_study, run_options, study_layouts,
                                        summarise_layouts)
from mmsola.engine.cli import load_config

DEFAULT_CONFIG = 'configs/long_range/sola-mini_long-range-boards.py'
#: The comparisons that carry the paper's claim, at the largest distance.
HEADLINE = (('sola', 'linear'), ('sola', 'stage'), ('sola', 'periodic'), ('softmax', 'sola'))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='default: %(default)s')
    parser.add_argument('--layouts', nargs='+', metavar='NAME',
                        help='layouts of the study by name (default: all of them)')
    parser.add_argument('--distances', nargs='+', type=int,
                        help='cells between the deciding cells (default: every one the '
                        "config's board allows, 1 to grid - 1)")
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--jobs', type=int, default=2, help='runs at a time (default: 2)')
    parser.add_argument('--iters', type=int, help="training iterations (default: the config's)")
    parser.add_argument('--batch-size', type=int, help="default: the config's")
    parser.add_argument('--work-dir', default='work_dirs/long_range')
    parser.add_argument('--out-dir', default='docs/analysis/long_range')
    parser.add_argument('--no-erf', action='store_true', help='skip the ERF of trained models')
    parser.add_argument('--report-only', action='store_true',
                        help='train nothing: summarise the runs of the ledger (a study under way)')
    return parser.parse_args(argv)


def write_boards(folder: str, distance: int, cfg, num: int) -> str:
    """The first ``num`` validation boards of the config at ``distance``, as PNG files."""
    from PIL import Image

    from mmsola.datasets.long_range import BoardSpec, draw_board
    dataset = cfg.val_dataloader.dataset
    spec = BoardSpec(seed=dataset.seed, image_size=dataset.image_size, grid=dataset.grid,
                     distance=distance,
                     num_distractors=dataset.get('num_distractors', BoardSpec.num_distractors))
    mkdir_or_exist(folder)
    for index in range(num):
        image = draw_board(spec, 1, index)['image']
        Image.fromarray(np.asarray(image)).save(osp.join(folder, f'{index:03d}.png'))
    return folder


def trained_erf(config: str, records: List[dict], out_dir: str, work_root: str) -> Optional[dict]:
    """ERF per layer of the trained 'linear' and 'sola' models at the largest distance (lowest
    seed holding both checkpoints); None when no such pair of checkpoints is on this machine."""
    from mmsola.analysis.erf import run_erf_analysis
    distance = max(r['distance'] for r in records)
    for seed in sorted({r['seed'] for r in records}):
        found = {}
        for layout in ('linear', 'sola'):
            pointer = osp.join(work_root, f'seed{seed}', f'distance{distance}', layout,
                               'last_checkpoint')
            if osp.isfile(pointer):
                found[layout] = open(pointer).read().strip()
        if len(found) == 2 and all(osp.isfile(f) for f in found.values()):
            break
    else:
        return None
    options = run_options('linear', distance, seed)
    cfg = load_config(config, cfg_options=options)
    boards = write_boards(osp.join(work_root, 'erf_boards', f'distance{distance}'), distance,
                          cfg, 16)
    size = cfg.val_dataloader.dataset.image_size
    return run_erf_analysis(config, osp.join(out_dir, 'erf'), layers='blocks', num_images=16,
                            image_size=(size, size), data_dir=boards, cfg_options=options,
                            compare_layouts=['linear', 'sola'],
                            checkpoints=[found['linear'], found['sola']], seed=seed)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'error: config {args.config} does not exist', file=sys.stderr)
        return 2
    cfg = load_config(args.config)
    layouts = study_layouts(cfg.model.backbone.arch.depths)
    if args.layouts:
        unknown = [name for name in args.layouts if name not in layouts]
        if unknown:
            print(f'error: --layouts {unknown}: the study knows {list(layouts)}', file=sys.stderr)
            return 2
        layouts = {name: layouts[name] for name in args.layouts}
    grid = cfg.train_dataloader.dataset.grid
    args.distances = args.distances or list(range(1, grid))
    bad = [d for d in args.distances if not 1 <= d < grid]
    if bad:
        print(f'error: --distances {bad}: a {grid} x {grid} board allows 1 to {grid - 1}',
              file=sys.stderr)
        return 2
    if args.iters is not None and args.iters < 2:
        print(f'error: --iters {args.iters}: a run needs at least 2 (warm-up, then cosine)',
              file=sys.stderr)
        return 2
    mkdir_or_exist(args.out_dir)
    ledger = osp.join(args.out_dir, 'long_range.json')
    records = run_long_range_study(args.config, layouts, args.distances, args.seeds, ledger,
                                   args.work_dir, args.jobs, args.iters, args.batch_size,
                                   train=not args.report_only)
    if not records:
        print(f'error: {ledger} holds none of the requested runs', file=sys.stderr)
        return 1
    farthest = max(args.distances)
    measures = ['accuracy'] + (['iters_to_solve'] if has_learning_speed(records) else [])
    comparisons = [compare(records, first, second, farthest, key) for key in measures
                   for first, second in HEADLINE if first in layouts and second in layouts]
    dump(dict(config=args.config, summary=summarise_layouts(records), comparisons=comparisons),
         osp.join(args.out_dir, 'long_range_summary.json'), indent=1)
    first = records[0]
    title = (f"same colour? {first['image_size']} px boards, {first['grid']} x {first['grid']} "
             f"cells; {first['max_iters']} iters x batch {first['batch_size']}, lr {first['lr']:g} "
             f"(every board new); val {first['val_boards']} boards")
    put_text(f'Long-range study, config `{args.config}`; {title}\n\n' +
             format_study(records, comparisons), osp.join(args.out_dir, 'long_range.md'))
    plot_study(records, osp.join(args.out_dir, 'long_range.png'), title)
    print(format_study(records, comparisons))
    if not args.no_erf:
        erf = trained_erf(args.config, records, args.out_dir, args.work_dir)
        if erf is None:
            print('ERF skipped: the linear and sola checkpoints of the largest distance are not '
                  f'in {args.work_dir}')
        else:
            for run in erf['runs']:
                radii = ' '.join(f"{layer['radius']['0.5']:.1f}" for layer in run['layers'])
                print(f"ERF radius (50 % of the mass), px, by block, {run['label']}: {radii}")
    print(f'wrote {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
