"""Params and FLOPs of the model of any mmsola config (or of its backbone alone).

    python tools/analysis_tools/get_flops.py CONFIG [--shape H W] [--backbone] [--cfg-options ...]

FLOPs are multiply-accumulates (MACs) of matrix products and convolutions, global softmax
attention included (see mmsola/analysis/flops.py). Default input shapes follow the papers:
224 x 224 for classification, 1280 x 800 for detection, 2048 x 512 for segmentation.
"""
import argparse

from mmengine.config import DictAction
from mmengine.fileio import dump

from mmsola.analysis.flops import model_complexity
from mmsola.analysis import DEFAULT_SHAPES
from mmsola.apis import init_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input height and width (default: by task)')
    parser.add_argument('--backbone', action='store_true', help='count the backbone alone')
    parser.add_argument('--json', help='also write the figures to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.layout=linear')
    args = parser.parse_args()

    model = init_model(args.config, cfg_options=args.cfg_options)
    scope = model.cfg.default_scope
    height, width = args.shape or DEFAULT_SHAPES[scope]
    result = model_complexity(model, scope, height, width, backbone_only=args.backbone)

    what = 'backbone' if args.backbone else 'model'
    print(f'config: {args.config}')
    print(f'{what} of {type(model).__name__}, input 1 x 3 x {height} x {width} (H x W)')
    print(f"params: {result['params'] / 1e6:.2f} M")
    print(f"FLOPs:  {result['flops'] / 1e9:.2f} G  (multiply-accumulates of matrix products and "
          'convolutions, global softmax attention included; other elementwise ops not counted)')
    top = sorted(((n, f) for n, f in result['flops_by_module'].items() if f), key=lambda t: -t[1])
    for name, flops in top[:12]:
        print(f'  {name:<40s} {flops / 1e9:8.3f} G')
    if args.json:
        dump(dict(result, config=args.config, shape=[height, width], part=what), args.json,
             indent=2)


if __name__ == '__main__':
    main()
