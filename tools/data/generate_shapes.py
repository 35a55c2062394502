"""Generate the embedded datasets: shapes (COCO instances, seg maps, class folders) or long-range.

    python tools/data/generate_shapes.py [--out data/shapes] [--seed 0] [--num-train 200] ...
    python tools/data/generate_shapes.py long-range [--out data/long_range] [--image-size 256] ...
"""
import argparse
import dataclasses
import json
import sys
from typing import List, Optional

from mmsola.datasets import LongRangeSpec, ShapesSpec, generate_long_range, generate_shapes

DATASETS = {
    'shapes': (ShapesSpec, generate_shapes, 'data/shapes'),
    'long-range': (LongRangeSpec, generate_long_range, 'data/long_range'),
}


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    dataset = argv[0] if argv and argv[0] in DATASETS else 'shapes'
    spec_class, generate, default_out = DATASETS[dataset]
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('dataset', nargs='?', choices=sorted(DATASETS), default='shapes',
                        help='which dataset (default: %(default)s)')
    parser.add_argument('--out', default=default_out, help='dataset root (default: %(default)s)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the folder holds this very dataset')
    for field in dataclasses.fields(spec_class):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=int, default=field.default,
                            help=f'{spec_class.__name__}.{field.name} (default: %(default)s)')
    args = parser.parse_args(argv)
    spec = spec_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(spec_class)})
    summary = generate(args.out, spec, force=args.force)
    state = 'already present' if summary.pop('reused') else 'written'
    print(f"{dataset} dataset {state} at {summary.pop('root')}: {json.dumps(summary)}")


if __name__ == '__main__':
    main()
