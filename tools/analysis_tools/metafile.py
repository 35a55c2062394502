"""Metafiles as the source of truth: fill in params and FLOPs, add test results, make tables.

    python tools/analysis_tools/metafile.py fill METAFILE [METAFILE ...]
    python tools/analysis_tools/metafile.py results WORK_DIR --metafile FILE --name MODEL \
        [--dataset NAME]
    python tools/analysis_tools/metafile.py table METAFILE [METAFILE ...] [--readme FILE]

Run from the repository root: metafile ``Config`` paths are relative to it. See
mmsola/analysis/metafile.py for the formats.
"""
import argparse

from mmsola.analysis.metafile import (add_results, fill_metafile, metafile_table,
                                      write_readme_table)


def parse_metafile_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    fill = commands.add_parser('fill', help='count Parameters and FLOPs of every model')
    fill.add_argument('metafiles', nargs='+', metavar='METAFILE')
    results = commands.add_parser(
        'results', help="add a work dir's test_metrics.json to a model's Results")
    results.add_argument('work_dir', help='work dir of tools/test.py')
    results.add_argument('--metafile', required=True, help='metafile (created if missing)')
    results.add_argument('--name', required=True, help='model name (added if missing)')
    results.add_argument('--dataset', help='Results: Dataset (default: the Training Data)')
    table = commands.add_parser('table', help='markdown table of the models')
    table.add_argument('metafiles', nargs='+', metavar='METAFILE')
    table.add_argument('--readme', help='write the table between the metafile-table markers '
                       'of this file instead of printing it')
    return parser.parse_args()


def main() -> None:
    args = parse_metafile_args()
    if args.command == 'fill':
        for metafile in args.metafiles:
            fill_metafile(metafile)
    elif args.command == 'results':
        model = add_results(args.metafile, args.work_dir, args.name, args.dataset)
        print(f"{args.metafile}: {model['Name']}: {model['Results']}")
    elif args.readme:
        write_readme_table(args.readme, args.metafiles)
        print(f'table written to {args.readme}')
    else:
        print(metafile_table(args.metafiles), end='')


if __name__ == '__main__':
    main()
