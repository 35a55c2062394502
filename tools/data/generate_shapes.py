"""Generate the embedded shapes dataset: COCO instances, segmentation maps and class folders.

    python tools/data/generate_shapes.py [--out data/shapes] [--seed 0] [--num-train 1000] ...

A folder that already holds this very dataset (same spec, same format) is kept; --force writes it
again. The long-range boards need no files: mmsola.LongRangeBoards draws them when read.
"""
import argparse
import dataclasses
import json
from typing import List, Optional

from mmsola.datasets import ShapesSpec, generate_shapes


def build_parser() -> argparse.ArgumentParser:
    """Every field of :class:`ShapesSpec` is an option."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/shapes', help='dataset root (default: %(default)s)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the folder holds this very dataset')
    for field in dataclasses.fields(ShapesSpec):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=int,
                            help=f'default {field.default}')
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    spec = ShapesSpec(**{field.name: getattr(args, field.name)
                         for field in dataclasses.fields(ShapesSpec)
                         if getattr(args, field.name) is not None})
    summary = generate_shapes(args.out, spec, force=args.force)
    state = 'already present' if summary.pop('reused') else 'written'
    print(f"shapes dataset {state} at {summary.pop('root')}: {json.dumps(summary)}")


if __name__ == '__main__':
    main()
