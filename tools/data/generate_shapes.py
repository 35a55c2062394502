"""Generate the embedded datasets: shapes (COCO instances, seg maps, class folders) or long-range.

    python tools/data/generate_shapes.py [shapes] [--out data/shapes] [--seed 0] [--num-train 1000] ...
    python tools/data/generate_shapes.py long-range [--out data/long_range] [--image-size 256] ...

The dataset name may stand anywhere among the options.
"""
import argparse
import dataclasses
import json
from typing import List, Optional

from mmsola.datasets import LongRangeSpec, ShapesSpec, generate_long_range, generate_shapes

DATASETS = {
    'shapes': (ShapesSpec, generate_shapes, 'data/shapes'),
    'long-range': (LongRangeSpec, generate_long_range, 'data/long_range'),
}


def build_parser() -> argparse.ArgumentParser:
    """One parser for both datasets: every spec field is an option, checked after parsing."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('dataset', nargs='?', choices=sorted(DATASETS), default='shapes',
                        help='which dataset (default: %(default)s)')
    parser.add_argument('--out', help='dataset root (default: data/shapes or data/long_range)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the folder holds this very dataset')
    fields = {}
    for name, (spec_class, _, _) in DATASETS.items():
        for field in dataclasses.fields(spec_class):
            fields.setdefault(field.name, []).append(f'{name} (default {field.default})')
    for field_name, owners in fields.items():
        parser.add_argument(f"--{field_name.replace('_', '-')}", type=int,
                            help='; '.join(owners))
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    spec_class, generate, default_out = DATASETS[args.dataset]
    own = {field.name for field in dataclasses.fields(spec_class)}
    for action in parser._actions:
        name = action.dest
        if name not in own and name not in ('dataset', 'out', 'force', 'help') and \
                getattr(args, name) is not None:
            parser.error(f'{action.option_strings[0]} is not an option of the {args.dataset} '
                         'dataset')
    spec = spec_class(**{name: getattr(args, name) for name in own
                         if getattr(args, name) is not None})
    summary = generate(args.out or default_out, spec, force=args.force)
    state = 'already present' if summary.pop('reused') else 'written'
    print(f"{args.dataset} dataset {state} at {summary.pop('root')}: {json.dumps(summary)}")


if __name__ == '__main__':
    main()
