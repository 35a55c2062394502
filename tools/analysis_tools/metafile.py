"""Metafiles as the source of truth: fill in params and FLOPs, add test results, make tables.

    python tools/analysis_tools/metafile.py fill METAFILE [METAFILE ...]
    python tools/analysis_tools/metafile.py results WORK_DIR --metafile FILE --name MODEL \
        [--dataset NAME]
    python tools/analysis_tools/metafile.py table METAFILE [METAFILE ...] [--readme FILE]

Run from the repository root: metafile ``Config`` paths are relative to it. A metafile (``configs/<family>/metafile.yml``, imported by ``model-index.yml``) lists models as
mmpretrain's do::

    Models:
    - Name: sola-t_8xb128_in1k
      In Collection: SoLA-Vision ImageClassifier
      Config: configs/sola/sola-t_8xb128_in1k.py
      Metadata: {Training Data: ImageNet-1k, FLOPs: 2758496256, Parameters: 14979464}
      Results:                     # once the model is trained and tested
      - {Task: Image Classification, Dataset: ImageNet-1k, Metrics: {Top 1 Accuracy: ...}}

``Config`` paths are relative to the current directory (the repository root, as in OpenMMLab).
:func:`fill_metafile` counts ``Parameters`` and ``FLOPs`` (multiply-accumulates, see
:mod:`mmsola.analysis.flops`) at the input of :data:`~mmsola.analysis.flops.DEFAULT_SHAPES`,
:func:`add_results` copies the metrics of the ``test_metrics.json`` that ``tools/test.py``
writes, and :func:`metafile_table` turns metafiles into the markdown tables of the READMEs.
"""
import argparse
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.fileio import dump, load
from mmengine.logging import print_log

from mmsola.analysis.flops import DEFAULT_SHAPES, model_complexity
from mmsola.apis import init_model

TABLE_START = '<!-- metafile-table:start -->'
TABLE_END = '<!-- metafile-table:end -->'
NOT_TRAINED = 'not yet trained'
#: The metric cells of converted weights that have not been tested here.
NOT_MEASURED = 'not measured here'
#: test_metrics.json key -> (Results ``Task``, ``Metrics`` name, factor to percent), per scope;
#: names and units as in the metafiles of mmpretrain, mmdet and mmseg.
RESULT_METRICS: Dict[str, Dict[str, Tuple[str, str, float]]] = {
    'mmpretrain': {
        'accuracy/top1': ('Image Classification', 'Top 1 Accuracy', 1.0),
        'accuracy/top5': ('Image Classification', 'Top 5 Accuracy', 1.0),
    },
    'mmdet': {
        'coco/bbox_mAP': ('Object Detection', 'box AP', 100.0),
        'coco/segm_mAP': ('Instance Segmentation', 'mask AP', 100.0),
    },
    'mmseg': {
        'mIoU': ('Semantic Segmentation', 'mIoU', 1.0),
    },
}


def load_metafile(path: str) -> dict:
    """The content of a metafile.

    Raises:
        FileNotFoundError: naming ``path`` when it does not exist.
        ValueError: naming ``path`` when it has no ``Models`` list.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'metafile {path} does not exist')
    content = load(path, file_format='yaml') or {}
    if not isinstance(content.get('Models'), list):
        raise ValueError(f'metafile {path} has no `Models` list')
    return content


def dump_metafile(content: dict, path: str) -> None:
    dump(content, path, file_format='yaml', sort_keys=False, default_flow_style=False,
         allow_unicode=True, width=100)


def model_config(model: dict, metafile: str) -> str:
    """The ``Config`` of a metafile model, checked to exist.

    Raises:
        FileNotFoundError: naming the metafile, the model and the config.
    """
    config = model.get('Config')
    if not config or not osp.isfile(config):
        raise FileNotFoundError(f"{metafile}: model {model.get('Name')} has config {config!r}, "
                                'which does not exist (paths are relative to the current '
                                'directory, the repository root)')
    return config


def fill_metafile(path: str) -> List[dict]:
    """Write ``Metadata: {FLOPs, Parameters}`` of every model of a metafile, counted on the
    model built from its ``Config`` at ``DEFAULT_SHAPES[default_scope]``.

    Returns:
        the models of the metafile, as written.
    """
    content = load_metafile(path)
    for model in content['Models']:
        start = time.perf_counter()
        built = init_model(model_config(model, path))
        scope = built.cfg.default_scope
        height, width = DEFAULT_SHAPES[scope]
        complexity = model_complexity(built, scope, height, width)
        metadata = model.setdefault('Metadata', {})
        metadata['FLOPs'] = int(complexity['flops'])
        metadata['Parameters'] = int(complexity['params'])
        print_log(f"{model['Name']}: {metadata['Parameters'] / 1e6:.2f} M params, "
                  f"{metadata['FLOPs'] / 1e9:.2f} G FLOPs at {width} x {height} "
                  f'({time.perf_counter() - start:.0f} s)', logger='current')
    dump_metafile(content, path)
    return content['Models']


def find_dumped_config(work_dir: str, config: str) -> str:
    """The config that mmengine's Runner dumped into ``work_dir`` for ``config``.

    Raises:
        FileNotFoundError: naming the work dir and the file looked for.
    """
    dumped = osp.join(work_dir, osp.basename(config))
    if not osp.isfile(dumped):
        raise FileNotFoundError(f'{work_dir} holds no dumped config {osp.basename(config)} '
                                f'(the config its test_metrics.json names)')
    return dumped


def add_results(metafile: str, work_dir: str, name: str,
                dataset: Optional[str] = None) -> dict:
    """Put the metrics of ``<work_dir>/test_metrics.json`` into the ``Results`` of model
    ``name`` (one entry per task and dataset, replacing an older one). A model that is not in
    the metafile is added with the work dir's dumped config as ``Config``; a metafile that does
    not exist is created.

    Args:
        dataset: ``Results: Dataset``; default: the model's ``Metadata: Training Data``.

    Returns:
        the model, as written.

    Raises:
        FileNotFoundError: naming the work dir when it has no test_metrics.json.
        ValueError: when no dataset is known, or the metrics hold none of the task's metrics.
    """
    metrics_file = osp.join(work_dir, 'test_metrics.json')
    if not osp.isfile(metrics_file):
        raise FileNotFoundError(f'{work_dir} holds no test_metrics.json (tools/test.py '
                                'writes it)')
    test_run = load(metrics_file)
    content = load_metafile(metafile) if osp.exists(metafile) else {'Models': []}
    model = next((m for m in content['Models'] if m.get('Name') == name), None)
    if model is None:
        model = dict(Name=name, Config=find_dumped_config(work_dir, test_run['config']))
        content['Models'].append(model)
    dataset = dataset or model.get('Metadata', {}).get('Training Data')
    if not dataset:
        raise ValueError(f'model {name} of {metafile} has no `Metadata: Training Data`; '
                         'name the test dataset with --dataset')

    scope = Config.fromfile(model_config(model, metafile)).default_scope
    known = RESULT_METRICS.get(scope, {})
    found = {key: value for key, value in test_run['metrics'].items() if key in known}
    if not found:
        raise ValueError(f'{metrics_file} holds none of the {scope} metrics '
                         f'{sorted(known)}; it has {sorted(test_run["metrics"])}')
    results = model.setdefault('Results', [])
    for key, value in found.items():
        task, metric, factor = known[key]
        entry = next((r for r in results if r['Task'] == task and r['Dataset'] == dataset),
                     None)
        if entry is None:
            entry = dict(Task=task, Dataset=dataset, Metrics={})
            results.append(entry)
        entry['Metrics'][metric] = round(float(value) * factor, 2)
    dump_metafile(content, metafile)
    return model


def task_metrics(scope: str) -> List[str]:
    """The ``Metrics`` names that :func:`add_results` writes for models of ``scope``."""
    return [metric for _, metric, _ in RESULT_METRICS[scope].values()]


def weights_cell(model: dict) -> str:
    """Where a model's weights come from: converted from another codebase, trained here, none."""
    converted = model.get('Converted From')
    if converted:
        return f"converted from [{converted['Code'].rstrip('/').split('/')[-1]}]" \
            f"({converted['Weights']})"
    return 'trained here' if model.get('Results') else 'none yet'


def metafile_table(metafiles: Sequence[str], link_dir: Optional[str] = None) -> str:
    """A markdown table of the models of ``metafiles``: name, params, FLOPs (with the input
    shape), one column per metric that a model reports in its ``Results`` or, for a model
    without ``Results``, would report (read "not yet trained"), where its weights come from
    (:func:`weights_cell`), and a link to the config,
    relative to ``link_dir`` (default: the path in the metafile)."""
    models = []
    for path in metafiles:
        for model in load_metafile(path)['Models']:
            config = model_config(model, path)
            models.append((model, config, Config.fromfile(config).default_scope))
    metric_names: List[str] = []
    for model, _, scope in models:
        results = model.get('Results')
        names = ([name for result in results for name in result['Metrics']] if results else
                 task_metrics(scope))
        metric_names += [name for name in dict.fromkeys(names) if name not in metric_names]
    shapes = {DEFAULT_SHAPES[scope] for _, _, scope in models}
    flops_header = 'FLOPs'
    if len(shapes) == 1:
        height, width = shapes.pop()
        flops_header = f'FLOPs @ {width} x {height}'

    lines = ['| ' + ' | '.join(['model', 'params', flops_header, *metric_names, 'weights',
                                'config']) + ' |',
             '|' + '---|' * (len(metric_names) + 5)]
    for model, config, scope in models:
        metadata = model.get('Metadata', {})
        params, flops = metadata.get('Parameters'), metadata.get('FLOPs')
        flops_cell = '-' if flops is None else f'{flops / 1e9:.2f} G'
        if flops is not None and flops_header == 'FLOPs':
            height, width = DEFAULT_SHAPES[scope]
            flops_cell += f' @ {width} x {height}'
        metrics = {name: value for result in model.get('Results', [])
                   for name, value in result['Metrics'].items()}
        untrained = '-' if model.get('Results') else (
            NOT_MEASURED if model.get('Converted From') else NOT_TRAINED)
        metric_cells = [str(metrics[m]) if m in metrics else
                        untrained if m in task_metrics(scope) else '-' for m in metric_names]
        row = [f"`{model['Name']}`", '-' if params is None else f'{params / 1e6:.2f} M',
               flops_cell, *metric_cells, weights_cell(model),
               f'[config]({config if link_dir is None else osp.relpath(config, link_dir)})']
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines) + '\n'


def replace_marked_table(text: str, table: str, source: str) -> str:
    """``text`` with what lies between :data:`TABLE_START` and :data:`TABLE_END` replaced by
    ``table``.

    Raises:
        ValueError: naming ``source`` unless the text holds each marker once, in order.
    """
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if (text.count(TABLE_START), text.count(TABLE_END)) != (1, 1) or end < start:
        raise ValueError(f'{source} must hold the lines {TABLE_START} and {TABLE_END} once '
                         'each, in this order, around the place of the table')
    return f'{text[:start + len(TABLE_START)]}\n{table}{text[end:]}'


def write_readme_table(readme: str, metafiles: Sequence[str]) -> str:
    """Write the table of ``metafiles`` between the markers of ``readme``; returns the table."""
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    table = metafile_table(metafiles, link_dir=osp.dirname(readme) or '.')
    text = replace_marked_table(text, table, readme)
    with open(readme, 'w', encoding='utf-8') as f:
        f.write(text)
    return table



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
