"""Generate the embedded shapes dataset (COCO instances, segmentation maps, class folders).

    python tools/data/generate_shapes.py [--out data/shapes] [--seed 0] [--num-train 200] ...
"""
import argparse
import dataclasses
import json

from mmsola.datasets import ShapesSpec, generate_shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/shapes', help='dataset root (default: %(default)s)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the folder holds this very dataset')
    for field in dataclasses.fields(ShapesSpec):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=int, default=field.default)
    args = parser.parse_args()
    spec = ShapesSpec(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ShapesSpec)})
    summary = generate_shapes(args.out, spec, force=args.force)
    state = 'already present' if summary.pop('reused') else 'written and validated'
    print(f"shapes dataset {state} at {summary.pop('root')}: {json.dumps(summary)}")


if __name__ == '__main__':
    main()
