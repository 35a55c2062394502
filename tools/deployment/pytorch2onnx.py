"""Export the classifier, the segmentor or the backbone of an mmsola config to ONNX.

    python tools/deployment/pytorch2onnx.py CONFIG [CHECKPOINT] --out FILE.onnx [--backbone]
        [--shape BxHxW] [--verify [--verify-shapes BxHxW ...] [--tolerance 1e-4]]
        [--cfg-options ...]

The graph takes float32 (B, 3, H, W) images with values 0-255, RGB: the data preprocessor's
normalisation is inside it. Batch, height and width are dynamic unless --shape fixes them.
--verify compares ONNX Runtime with PyTorch at odd sizes and exits with status 1 when an output
differs by more than --tolerance. Detectors are refused (Mask R-CNN's RoI operators are
mmdeploy's job); --backbone exports the backbone of any config, detectors included.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from mmsola.apis import init_model
from mmsola.utils.cli import input_shape
from mmsola.deployment import (DEFAULT_TOLERANCE, DEFAULT_VERIFY_SHAPES, EXPORT_OUTPUTS,
                               ExportRefusedError, export_metadata, export_onnx,
                               input_channel_order, task_of_model,
                               verify_onnx, wrap_for_export)

#: (B, H, W) of the example input of a dynamic export: B >= 2 and H != W, so that the exporter
#: neither specialises the batch to 1 nor ties the height to the width.
DYNAMIC_EXAMPLE_SHAPE = (2, 224, 256)


def parse_export_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file (default: random init)')
    parser.add_argument('--out', required=True, help='the ONNX file to write')
    parser.add_argument('--backbone', action='store_true',
                        help='export the backbone alone (one output per out_indices entry)')
    parser.add_argument('--shape', type=input_shape, metavar='BxHxW',
                        help='fix batch, height and width (default: all three dynamic)')
    parser.add_argument('--verify', action='store_true',
                        help='compare ONNX Runtime with PyTorch after the export')
    parser.add_argument('--verify-shapes', type=input_shape, nargs='+', metavar='BxHxW',
                        help='input shapes of --verify (default: '
                        f"{' '.join('{}x{}x{}'.format(*s) for s in DEFAULT_VERIFY_SHAPES)}, or "
                        '--shape when given)')
    parser.add_argument('--tolerance', type=float, default=DEFAULT_TOLERANCE,
                        help='largest absolute difference --verify accepts (default: '
                        '%(default)s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.layout=linear')
    args = parser.parse_args(argv)
    if args.tolerance <= 0:
        parser.error(f'--tolerance must be positive, got {args.tolerance}')
    if args.shape and args.verify_shapes and any(s != args.shape for s in args.verify_shapes):
        parser.error(f"--verify-shapes {args.verify_shapes} differ from --shape {args.shape}: "
                     'a graph exported at a fixed shape runs at that shape only')
    if not args.out.endswith('.onnx'):
        parser.error(f'--out {args.out} should end with .onnx')
    return args


def main(argv=None) -> int:
    args = parse_export_args(argv)
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    model = init_model(args.config, args.checkpoint, cfg_options=args.cfg_options)
    try:
        task = task_of_model(model, backbone_only=args.backbone)
    except ExportRefusedError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    wrapped = wrap_for_export(model, task)
    dynamic = args.shape is None
    seconds = export_onnx(wrapped, args.out, args.shape or DYNAMIC_EXAMPLE_SHAPE, dynamic,
                          metadata=export_metadata(model, task, dynamic, args.shape))
    size = 'dynamic batch, height and width' if dynamic else 'fixed shape {}x3x{}x{}'.format(
        *args.shape)
    print(f'exported the {task} of {args.config} ({EXPORT_OUTPUTS[task]}), {size}, input 0-255 '
          f'{input_channel_order(model)}, to {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB) '
          f'in {seconds:.1f} s')
    if not args.verify:
        return 0
    shapes = args.verify_shapes or ([args.shape] if args.shape else DEFAULT_VERIFY_SHAPES)
    results = verify_onnx(wrapped, args.out, shapes)
    for result in results:
        print(f'verify {result.describe(args.tolerance)}')
    failed = [r for r in results if not r.passed(args.tolerance)]
    if failed:
        print(f'error: ONNX Runtime differs from PyTorch by more than --tolerance '
              f'{args.tolerance:g} at {len(failed)} of {len(results)} shapes', file=sys.stderr)
        return 1
    print(f'verified: ONNX Runtime matches PyTorch within {args.tolerance:g} at every shape')
    return 0


if __name__ == '__main__':
    sys.exit(main())
