"""EigenCAM overlays of a backbone stage for any mmsola config (classification, detection or
segmentation).

    python tools/analysis/cam.py CONFIG IMAGE_OR_DIR [--checkpoint CKPT] [--stage -1]
        [--out-dir DIR] [--device cpu] [--alpha 0.5] [--cfg-options ...]

Each image goes through the config's test pipeline (annotation loading dropped) and the
model's data preprocessor; the map is the first principal component of the chosen backbone
output (see mmsola/analysis/cam.py). One PNG per image: the input next to the image as fed with
the map over it, titled with the predicted class (classification), with the boxes of score
> 0.3 (detection) or the predicted mask's contours (segmentation).
"""
import argparse
import sys

import matplotlib

matplotlib.use('Agg')

from mmengine.config import DictAction  # noqa: E402

from mmsola.analysis.cam import run_cam  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file (mmpretrain, mmdet or mmseg scope)')
    parser.add_argument('images', metavar='IMAGE_OR_DIR', help='an image or a folder of images')
    parser.add_argument('--checkpoint', help='weights to load (default: random initialisation)')
    parser.add_argument('--stage', type=int, default=-1,
                        help='index into the outputs the backbone returns (its out_indices); '
                        '-1: the last (default)')
    parser.add_argument('--out-dir', help='where to write the PNGs '
                        '(default: work_dirs/cam/<config name>)')
    parser.add_argument('--device', default='cpu', help='torch device (default: cpu)')
    parser.add_argument('--alpha', type=float, default=0.5, help='opacity of the map (0-1)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.out_indices="(2,3)"')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        written = run_cam(args.config, args.images, checkpoint=args.checkpoint, stage=args.stage,
                          out_dir=args.out_dir, device=args.device, cfg_options=args.cfg_options,
                          alpha=args.alpha)
    except (FileNotFoundError, ValueError, IndexError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    for path in written:
        print(path)
    print(f'{len(written)} picture(s) written')
    return 0


if __name__ == '__main__':
    sys.exit(main())
