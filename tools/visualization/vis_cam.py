"""EigenCAM of a backbone output for any mmsola config (classification, detection or
segmentation).

    python tools/visualization/vis_cam.py CONFIG IMAGE_OR_DIR [--checkpoint CKPT] [--stage -1]
        [--out-dir DIR] [--cfg-options ...]

Each image goes through the task's own inference API (mmdet inference_detector, mmseg
inference_model, mmpretrain ImageClassificationInferencer); the map is the first principal
component of the chosen backbone output, its sign fixed to agree with the activation magnitude
(see mmsola/analysis/cam.py). One PNG per image: the prediction as the task's visualizer draws
it, next to the map over the image as the network saw it.
"""
import argparse
import sys
from typing import Optional, Sequence

from mmengine.config import DictAction

from mmsola.analysis.cam import run_cam


def parse_cam_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file (mmpretrain, mmdet or mmseg scope)')
    parser.add_argument('images', metavar='IMAGE_OR_DIR',
                        help='an image, or a folder searched recursively for images')
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_cam_args(argv)
    try:
        written = run_cam(args.config, args.images, checkpoint=args.checkpoint, stage=args.stage,
                          out_dir=args.out_dir, cfg_options=args.cfg_options, device=args.device,
                          alpha=args.alpha)
    except (FileNotFoundError, ValueError, IndexError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print('\n'.join(written))
    print(f'{len(written)} picture(s) written')
    return 0


if __name__ == '__main__':
    sys.exit(main())
