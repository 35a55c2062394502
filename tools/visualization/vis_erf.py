"""Effective receptive field (ERF) of every block (or stage) of the backbone of an mmsola config.

    python tools/visualization/vis_erf.py CONFIG [--checkpoint CKPT] [--layers blocks|stages]
        [--compare-layouts sola linear stage softmax [--checkpoints CKPT ...]]
        [--num-images N] [--image-size H W] [--data-dir DIR] [--out-dir DIR] [--cfg-options ...]

The gradient of each layer's centre feature (summed over channels) with respect to the input,
|.| summed over input channels, averaged over N images (noise, or the images of --data-dir
normalised with the config's data preprocessor), model in eval mode; the radius is the
half-width of the smallest square around the map's centre of mass holding 50 % (90 %) of the
gradient mass (mmsola/analysis/erf.py). Writes erf_grid.png (erf_grid_<layout>.png per layout),
erf_radius.png and erf.json to --out-dir.
"""
import argparse
import sys
from typing import Optional, Sequence

from mmengine.config import DictAction

from mmsola.analysis.erf import run_erf_analysis


def parse_erf_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file (classification, detection or segmentation)')
    parser.add_argument('--checkpoint', help='weights (default: random init)')
    parser.add_argument('--layers', choices=('blocks', 'stages'), default='blocks',
                        help="every block's output (default) or every stage's")
    parser.add_argument('--compare-layouts', nargs='+', metavar='LAYOUT',
                        help='run once per layout (preset or letters), all in one erf_radius.png')
    parser.add_argument('--checkpoints', nargs='+', metavar='CKPT',
                        help='with --compare-layouts: one checkpoint per layout, in order')
    parser.add_argument('--num-images', type=int, default=8, help='images to average over')
    parser.add_argument('--image-size', type=int, nargs=2, default=(256, 256),
                        metavar=('H', 'W'), help='input height and width')
    parser.add_argument('--data-dir', help='folder of images (default: uniform noise)')
    parser.add_argument('--out-dir', default='work_dirs/erf', help='where to write the results')
    parser.add_argument('--batch-size', type=int, default=4, help='images per backward pass')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random init and noise')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.layout=linear')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_erf_args(argv)
    try:
        result = run_erf_analysis(
            args.config, args.out_dir, checkpoint=args.checkpoint, layers=args.layers,
            num_images=args.num_images, image_size=args.image_size, data_dir=args.data_dir,
            cfg_options=args.cfg_options, compare_layouts=args.compare_layouts,
            checkpoints=args.checkpoints, batch_size=args.batch_size, seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    for run in result['runs']:
        radii = ' '.join(f"{layer['radius']['0.5']:.1f}" for layer in run['layers'])
        print(f"{run['label']}: ERF radius (50 % of the mass) by depth, px: {radii}")
    print(f"wrote {args.out_dir} in {result['seconds']:.1f} s")
    return 0


if __name__ == '__main__':
    sys.exit(main())
