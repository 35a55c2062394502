"""Effective receptive field (ERF) of every layer of the backbone of any mmsola config.

    python tools/analysis/erf.py CONFIG [--checkpoint CKPT] [--layers blocks|stages|NAME ...]
        [--num-images N] [--image-size H W] [--data-dir DIR] [--out-dir DIR]
        [--compare-layouts sola linear stage softmax [--checkpoints CKPT ...]]
        [--cfg-options ...]

For each layer: the gradient of the centre feature (summed over channels) with respect to the
input, in absolute value, summed over input channels and averaged over N images (uniform noise
by default, or the images of --data-dir, normalised with the config's data_preprocessor); the
model runs in eval mode. The ERF radius is the half-width of the smallest square around the
map's centre of mass holding 50% (and 90%) of the gradient mass. See mmsola/analysis/erf.py.

Writes to --out-dir: erf_<layer>.png and erf_grid.png (one sub-directory per layout with
--compare-layouts), erf_radius.png (radius vs depth, softmax layers starred, a sqrt(depth)
curve fitted to the linear layers) and erf.json.
"""
import argparse
from typing import Optional, Sequence

import torch
from mmengine.config import DictAction

from mmsola.analysis.erf import run_erf_analysis


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file (classification, detection or segmentation)')
    parser.add_argument('--checkpoint', help='weights (full model or backbone only); '
                        'random init when left out')
    parser.add_argument('--layers', nargs='+', default=['blocks'],
                        help="module names of the backbone (e.g. stages.2.blocks.1), 'blocks' "
                        "(every block, default) or 'stages' (every stage's output)")
    parser.add_argument('--num-images', type=int, default=8, help='images to average over')
    parser.add_argument('--image-size', type=int, nargs=2, default=(256, 256),
                        metavar=('H', 'W'), help='input height and width')
    parser.add_argument('--data-dir', help='read images from this folder (recursively) instead '
                        'of using noise')
    parser.add_argument('--out-dir', default='work_dirs/erf', help='where to write the results')
    parser.add_argument('--compare-layouts', nargs='+', metavar='LAYOUT',
                        help='run once per layout (preset or letters), overriding '
                        'model.backbone.layout, and draw all curves in one erf_radius.png')
    parser.add_argument('--checkpoints', nargs='+', metavar='CKPT',
                        help='with --compare-layouts: one checkpoint per layout, in order')
    parser.add_argument('--masses', type=float, nargs='+', default=(0.5, 0.9),
                        help='shares of the gradient mass for the radius')
    parser.add_argument('--shape', choices=('square', 'disc'), default='square',
                        help='shape of the region measured by the radius')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='images per forward/backward pass')
    parser.add_argument('--seed', type=int, default=0, help='seed of the init and the noise')
    parser.add_argument('--threads', type=int, help='torch intra-op threads')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.layout=linear')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_erf_analysis(
        args.config,
        args.out_dir,
        checkpoint=args.checkpoint,
        layers=args.layers,
        num_images=args.num_images,
        image_size=args.image_size,
        data_dir=args.data_dir,
        cfg_options=args.cfg_options,
        compare_layouts=args.compare_layouts,
        checkpoints=args.checkpoints,
        masses=args.masses,
        shape=args.shape,
        batch_size=args.batch_size,
        seed=args.seed)
    print(f"[erf] wrote {args.out_dir} in {result['seconds']:.1f} s")
    return result


if __name__ == '__main__':
    main()
