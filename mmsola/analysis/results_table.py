"""Results tables of mmengine work dirs: params, FLOPs and final metrics of each run.

``tools/analysis/results_table.py WORK_DIR...`` turns the work dirs that ``tools/train.py`` and
``tools/test.py`` write into the markdown tables of the config READMEs and into an OpenMMLab
metafile that ``model-index.yml`` imports, so that ``mim`` lists the models.

What is read from a work dir (the layout of mmengine's Runner):

- the config: the dumped ``<work_dir>/<config name>.py`` (the newest one if there are several),
  else the newest ``<work_dir>/<timestamp>/vis_data/config.py``. Its ``default_scope`` gives the
  task (``mmpretrain`` -> cls, ``mmdet`` -> det, ``mmseg`` -> seg); the model name is the
  dumped file's stem (with only ``vis_data/config.py``: the stem of the config named in
  ``test_metrics.json``, else the work dir's name). The config column and the metafile's
  ``Config`` point to the repository config of that name when one is found under the config
  dirs (default: this checkout's ``configs/``), else to the dumped config.
- the final metrics: ``<work_dir>/test_metrics.json`` (written by ``tools/test.py``: ``config``,
  ``checkpoint``, ``metrics``), else ``<work_dir>/test/test_metrics.json`` (where ``make demo``
  tests), else the last validation line of the ``<timestamp>/vis_data/scalars.json`` files,
  read oldest run first, so that a resumed run that has not validated yet keeps the metric of
  the run before it. A validation line is one without the training keys ``iter``, ``lr`` and
  ``loss``.
- progress: the largest training iteration logged or checkpointed (``iter_N.pth``); for
  epoch-based schedules the epochs known to be complete (``epoch_N.pth``, or an epoch followed
  by a validation), against ``train_cfg.max_iters`` / ``max_epochs``.
- the checkpoint: the one ``test_metrics.json`` evaluated, else ``last_checkpoint`` (looked up
  in the work dir by name if the recorded path moved), else the newest ``iter_N``/``epoch_N``.

Metrics that matter (a run is "trained" when it has its task's first metric; otherwise every
metric cell says "not yet trained" and its metafile entry gets no ``Results``, never a zero):

- cls: ``accuracy/top1`` (and ``accuracy/top5`` when present), already percent, 2 decimals;
- det: ``coco/bbox_mAP`` -> box AP and ``coco/segm_mAP`` -> mask AP, fractions shown as
  percent with 1 decimal, as in mmdet's READMEs (COCO's -1 for "no such objects" shows as -);
- seg: ``mIoU``, already percent, 2 decimals, as in mmseg's READMEs.

Params and FLOPs come from, in this order: a ``get_flops.py --json`` file given for that config
name (only ``part: model`` files: the tables describe whole models), the cache
``<work_dir>/results_table_complexity.json`` (valid while the dumped config is unchanged), or a
measurement with :func:`mmsola.analysis.count_complexity` on the model built from the dumped
config, at 224 x 224 (cls), 1280 x 800 (det) or 2048 x 512 (seg) unless a shape is given.
FLOPs are multiply-accumulates, as everywhere in mmsola. Nothing is estimated: what was not
measured shows as "not measured" and is left out of the metafile.

Dataset names (metafile ``Training Data`` and ``Results: Dataset``) come from the dataset type
of the train (resp. test or val) dataloader, wrappers unwrapped: CocoDataset -> COCO,
ADE20KDataset -> ADE20K, ImageNet -> ImageNet-1k (and a few more in :data:`KNOWN_DATASETS`).
A known type whose ``metainfo`` redefines the classes is a custom dataset in that format, and
like every other type it is named after its ``data_root``: the folder after ``data/``
(OpenMMLab's ``data/<dataset>/...`` convention, so ``data/shapes/cls/`` -> ``shapes``), else the
last folder, else the type.

Invalid work dirs (missing, not a folder, no dumped config, a config with an unsupported
``default_scope``) raise :class:`InvalidWorkDirError` naming the folder; with
``skip_invalid=True`` (``--skip-invalid``) they are reported with a warning and left out.
"""
import argparse
import glob
import hashlib
import json
import os
import os.path as osp
import re
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import yaml
from mmengine.config import Config

PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
# a checkout's configs/, else the copy a wheel ships in mmsola/.mim (see setup.py)
DEFAULT_CONFIG_DIR = next(
    (d for d in (osp.join(osp.dirname(PACKAGE_DIR), 'configs'),
                 osp.join(PACKAGE_DIR, '.mim', 'configs')) if osp.isdir(d)),
    osp.join(osp.dirname(PACKAGE_DIR), 'configs'))

TASK_OF_SCOPE = {'mmpretrain': 'cls', 'mmdet': 'det', 'mmseg': 'seg'}
TASK_ORDER = ('cls', 'det', 'seg')
TASK_TITLES = {
    'cls': 'Image classification (mmpretrain)',
    'det': 'Object detection and instance segmentation (mmdet)',
    'seg': 'Semantic segmentation (mmseg)',
}
#: (H, W) of the FLOPs input per task, as in tools/analysis/get_flops.py.
DEFAULT_FLOPS_SHAPES = {'cls': (224, 224), 'det': (800, 1280), 'seg': (512, 2048)}
FLOPS_DECIMALS = {'cls': 2, 'det': 1, 'seg': 1}

NOT_TRAINED = 'not yet trained'
NOT_MEASURED = 'not measured'
MISSING = '-'
TABLE_START_MARKER = '<!-- results-table:start -->'
TABLE_END_MARKER = '<!-- results-table:end -->'
COMPLEXITY_CACHE_NAME = 'results_table_complexity.json'

#: dataset type -> name used in metafiles; custom ``metainfo.classes`` disable the mapping.
KNOWN_DATASETS = {
    'CocoDataset': 'COCO',
    'CocoPanopticDataset': 'COCO',
    'LVISV1Dataset': 'LVIS v1',
    'ADE20KDataset': 'ADE20K',
    'CityscapesDataset': 'Cityscapes',
    'PascalVOCDataset': 'Pascal VOC 2012',
    'VOCDataset': 'Pascal VOC',
    'ImageNet': 'ImageNet-1k',
    'ImageNet21k': 'ImageNet-21k',
    'CIFAR10': 'CIFAR-10',
    'CIFAR100': 'CIFAR-100',
}
#: model type -> its name in collection names.
MODEL_NAMES = {
    'MaskRCNN': 'Mask R-CNN',
    'FasterRCNN': 'Faster R-CNN',
    'CascadeRCNN': 'Cascade R-CNN',
    'RetinaNet': 'RetinaNet',
    'ImageClassifier': 'ImageClassifier',
}
DECODE_HEAD_NAMES = {'UPerHead': 'UperNet', 'FPNHead': 'Semantic FPN', 'SegformerHead': 'SegFormer'}
SOLA_PAPER = {
    'Title': 'SoLA-Vision: Fine-grained Layer-wise Linear Softmax Hybrid Attention',
    'URL': 'https://arxiv.org/abs/2601.11164',
}
RUN_DIR_PATTERN = re.compile(r'^\d{8}_\d{6}$')
CHECKPOINT_PATTERN = re.compile(r'^(iter|epoch)_(\d+)\.pth$')
TRAINING_KEYS = ('iter', 'lr', 'loss')
BOOKKEEPING_KEYS = ('step', 'time', 'data_time')


class InvalidWorkDirError(FileNotFoundError):
    """A work dir that does not exist, has no dumped config, or is of an unsupported task."""


class MarkerError(ValueError):
    """A README without exactly one pair of results-table markers, in order."""


class ResultsTableWarning(UserWarning):
    """Something in a work dir was skipped or could not be read."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric that matters: where it is read and how it is shown.

    Args:
        key: key in scalars.json / test_metrics.json.
        column: markdown column header.
        task: metafile ``Results: Task``.
        name: metafile ``Metrics`` key.
        scale: factor to percent (100 for COCO's fractions).
        decimals: decimals shown and written.
    """
    key: str
    column: str
    task: str
    name: str
    scale: float
    decimals: int


TASK_METRICS: Dict[str, Tuple[MetricSpec, ...]] = {
    'cls': (MetricSpec('accuracy/top1', 'top-1', 'Image Classification', 'Top 1 Accuracy', 1.0, 2),
            MetricSpec('accuracy/top5', 'top-5', 'Image Classification', 'Top 5 Accuracy', 1.0,
                       2)),
    'det': (MetricSpec('coco/bbox_mAP', 'box AP', 'Object Detection', 'box AP', 100.0, 1),
            MetricSpec('coco/segm_mAP', 'mask AP', 'Instance Segmentation', 'mask AP', 100.0, 1)),
    'seg': (MetricSpec('mIoU', 'mIoU', 'Semantic Segmentation', 'mIoU', 1.0, 2), ),
}


@dataclass
class Complexity:
    """Params and FLOPs (multiply-accumulates) of a whole model; ``None`` = not measured."""
    params: Optional[int] = None
    flops: Optional[int] = None
    shape: Optional[Tuple[int, int]] = None  # (H, W) of the FLOPs input
    source: str = NOT_MEASURED


@dataclass
class TrainingProgress:
    """How far training got: ``reached`` of ``planned`` iterations or epochs."""
    unit: str  # 'iter' or 'epoch'
    reached: Optional[int] = None
    planned: Optional[int] = None

    def describe(self) -> str:
        if self.reached is None and self.planned is None:
            return MISSING
        reached = MISSING if self.reached is None else str(self.reached)
        planned = '?' if self.planned is None else str(self.planned)
        return f'{reached} / {planned} {self.unit}s'


@dataclass
class ScalarHistory:
    """What the ``scalars.json`` files of a work dir say, all runs (timestamps) together."""
    last_iter: Optional[int] = None
    completed_epochs: Optional[int] = None
    last_logged_epoch: Optional[int] = None
    metrics: Dict[str, float] = field(default_factory=dict)
    metrics_file: Optional[str] = None
    log_file: Optional[str] = None


@dataclass
class RunSummary:
    """Everything the tables and the metafile need about one work dir."""
    work_dir: str
    name: str
    task: str
    scope: str
    config_file: str  # the dumped config
    source_config: Optional[str]  # the repository config of that name, if found
    model_type: str
    backbone: str
    layout: str
    collection: str
    architecture: List[str]
    training_data: Optional[str]
    eval_data: Optional[str]
    metrics: Dict[str, float]
    metrics_source: Optional[str]
    expected_metrics: Tuple[str, ...]
    progress: TrainingProgress
    checkpoint: Optional[str]
    log_file: Optional[str]
    complexity: Complexity

    @property
    def trained(self) -> bool:
        """Whether the run has its task's main metric (the first of :data:`TASK_METRICS`)."""
        return metric_value(self.metrics, TASK_METRICS[self.task][0]) is not None


# --------------------------------------------------------------------------------------------
# reading a work dir


def read_json_lines(path: str) -> List[dict]:
    """The JSON objects of a one-object-per-line file; lines cut short by a crash are skipped."""
    entries = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


def run_dirs(work_dir: str) -> List[str]:
    """The ``<timestamp>`` folders of a work dir, oldest first."""
    names = [name for name in os.listdir(work_dir)
             if RUN_DIR_PATTERN.match(name) and osp.isdir(osp.join(work_dir, name))]
    return [osp.join(work_dir, name) for name in sorted(names)]


def scalars_file(run_dir: str) -> Optional[str]:
    """``vis_data/scalars.json`` of a run, else the json log mmengine writes next to it."""
    stamp = osp.basename(run_dir)
    for candidate in (osp.join(run_dir, 'vis_data', 'scalars.json'),
                      osp.join(run_dir, 'vis_data', f'{stamp}.json')):
        if osp.isfile(candidate):
            return candidate
    return None


def is_training_line(entry: dict) -> bool:
    """Training lines carry ``iter``/``lr``/``loss`` (``train/...`` with
    ``log_with_hierarchy``); validation and test lines do not."""
    return any(key in entry or f'train/{key}' in entry for key in TRAINING_KEYS)


def numeric_metrics(entry: dict) -> Dict[str, float]:
    """The metric values of a validation line or a metrics dict (bookkeeping keys left out,
    the ``val/``/``test/`` prefix of ``log_with_hierarchy`` removed)."""
    metrics = {}
    for key, value in entry.items():
        for prefix in ('val/', 'test/'):
            if key.startswith(prefix):
                key = key[len(prefix):]
        if key not in BOOKKEEPING_KEYS and isinstance(value, (int, float)) and not isinstance(
                value, bool):
            metrics[key] = float(value)
    return metrics


def read_history(work_dir: str) -> ScalarHistory:
    """Training progress and the last validation metrics over all runs of a work dir."""
    history = ScalarHistory()
    for run_dir in run_dirs(work_dir):
        path = scalars_file(run_dir)
        stamp = osp.basename(run_dir)
        log = osp.join(run_dir, f'{stamp}.log')
        if path is None:
            if osp.isfile(log) and history.log_file is None:
                history.log_file = log
            continue
        has_training = False
        for entry in read_json_lines(path):
            if is_training_line(entry):
                has_training = True
                if isinstance(entry.get('iter'), int):
                    history.last_iter = max(history.last_iter or 0, entry['iter'])
                if isinstance(entry.get('epoch'), int):
                    history.last_logged_epoch = max(history.last_logged_epoch or 0,
                                                    entry['epoch'])
                continue
            metrics = numeric_metrics(entry)
            if not metrics:
                continue
            history.metrics = metrics
            history.metrics_file = path
            if history.last_logged_epoch is not None:  # validation after a complete epoch
                history.completed_epochs = max(history.completed_epochs or 0,
                                               history.last_logged_epoch)
        if osp.isfile(log) and (has_training or history.log_file is None):
            history.log_file = log
    return history


def read_test_metrics(work_dir: str) -> Optional[Tuple[str, dict]]:
    """``(path, content)`` of the ``test_metrics.json`` written by ``tools/test.py``, if any."""
    for path in (osp.join(work_dir, 'test_metrics.json'),
                 osp.join(work_dir, 'test', 'test_metrics.json')):
        if not osp.isfile(path):
            continue
        try:
            with open(path, encoding='utf-8') as f:
                content = json.load(f)
        except (OSError, json.JSONDecodeError) as error:
            warnings.warn(f'{path} is unreadable ({error}); ignored', ResultsTableWarning)
            continue
        if isinstance(content, dict) and isinstance(content.get('metrics'), dict):
            return path, content
        warnings.warn(f'{path} has no `metrics` mapping; ignored', ResultsTableWarning)
    return None


def find_dumped_config(work_dir: str, preferred_stem: Optional[str] = None) -> str:
    """The config the Runner dumped into ``work_dir`` (see the module docstring)."""
    top_level = [path for path in glob.glob(osp.join(work_dir, '*.py')) if osp.isfile(path)]
    if preferred_stem:
        for path in top_level:
            if config_stem(path) == preferred_stem:
                return path
    if top_level:
        return max(top_level, key=osp.getmtime)
    for run_dir in reversed(run_dirs(work_dir)):
        path = osp.join(run_dir, 'vis_data', 'config.py')
        if osp.isfile(path):
            return path
    raise InvalidWorkDirError(
        f'work dir {work_dir} has no dumped config (neither {work_dir}/<config name>.py nor '
        f'{work_dir}/<timestamp>/vis_data/config.py); is it an mmengine work dir?')


def config_stem(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


def checkpoint_numbers(work_dir: str) -> Dict[str, int]:
    """The largest N of ``iter_N.pth`` and of ``epoch_N.pth`` in the work dir."""
    largest: Dict[str, int] = {}
    for name in os.listdir(work_dir):
        match = CHECKPOINT_PATTERN.match(name)
        if match:
            unit, number = match.group(1), int(match.group(2))
            largest[unit] = max(largest.get(unit, 0), number)
    return largest


def find_checkpoint(work_dir: str) -> Optional[str]:
    """``last_checkpoint``'s file (by name in the work dir if it moved), else the newest .pth."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8') as f:
            recorded = f.read().strip()
        if recorded:
            for candidate in (recorded, osp.join(work_dir, osp.basename(recorded))):
                if osp.isfile(candidate):
                    return osp.abspath(candidate)
    checkpoints = [osp.join(work_dir, name) for name in os.listdir(work_dir)
                   if CHECKPOINT_PATTERN.match(name)]
    return osp.abspath(max(checkpoints, key=osp.getmtime)) if checkpoints else None


def training_progress(cfg: Config, history: ScalarHistory, work_dir: str) -> TrainingProgress:
    """Iterations (or complete epochs) reached against the schedule of ``train_cfg``."""
    train_cfg = cfg.get('train_cfg') or {}
    by_epoch = bool(train_cfg.get('by_epoch')) or 'max_epochs' in train_cfg or str(
        train_cfg.get('type', '')).endswith('EpochBasedTrainLoop')
    saved = checkpoint_numbers(work_dir)
    if by_epoch:
        known = [n for n in (saved.get('epoch'), history.completed_epochs) if n is not None]
        if not known and history.last_logged_epoch is not None:
            known.append(history.last_logged_epoch - 1)  # the logged epoch may be unfinished
        return TrainingProgress('epoch', max(known) if known else None,
                                train_cfg.get('max_epochs'))
    known = [n for n in (saved.get('iter'), history.last_iter) if n is not None]
    return TrainingProgress('iter', max(known) if known else None, train_cfg.get('max_iters'))


def metric_value(metrics: Dict[str, float], spec: MetricSpec) -> Optional[float]:
    """The metric in percent, rounded as shown; ``None`` when absent or negative (COCO's -1)."""
    value = metrics.get(spec.key)
    if value is None or value < 0:
        return None
    return round(value * spec.scale, spec.decimals)


def evaluator_metric_names(cfg: Config) -> List[str]:
    """The ``metric`` entries of the val/test evaluators (e.g. ``['bbox', 'segm']``)."""
    names: List[str] = []
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key) or []
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        for evaluator in evaluators:
            metric = evaluator.get('metric') if isinstance(evaluator, dict) else None
            if isinstance(metric, str):
                names.append(metric)
            elif isinstance(metric, (list, tuple)):
                names.extend(str(m) for m in metric)
    return names


def expected_metric_keys(cfg: Config, task: str) -> Tuple[str, ...]:
    """The metrics of :data:`TASK_METRICS` this config's evaluator will report."""
    keys = [TASK_METRICS[task][0].key]
    if task == 'det' and 'segm' in evaluator_metric_names(cfg):
        keys.append('coco/segm_mAP')
    if task == 'cls':
        for key in ('val_evaluator', 'test_evaluator'):
            evaluator = cfg.get(key)
            topk = evaluator.get('topk') if isinstance(evaluator, dict) else None
            if isinstance(topk, (list, tuple)) and 5 in topk:
                keys.append('accuracy/top5')
                break
    return tuple(keys)


# --------------------------------------------------------------------------------------------
# what the config describes


def unwrap_dataset(dataset: Any) -> dict:
    """The innermost dataset config of wrappers (``dataset=``) and concatenations (the first)."""
    while isinstance(dataset, dict):
        if isinstance(dataset.get('dataset'), dict):
            dataset = dataset['dataset']
        elif isinstance(dataset.get('datasets'), (list, tuple)) and dataset['datasets']:
            dataset = dataset['datasets'][0]
        else:
            return dataset
    return {}


def dataset_name(dataset: Any) -> Optional[str]:
    """The name of a dataset config for metafiles (rule in the module docstring)."""
    dataset = unwrap_dataset(dataset)
    if not dataset:
        return None
    type_name = str(dataset.get('type', '')).split('.')[-1]
    metainfo = dataset.get('metainfo')
    custom_classes = isinstance(metainfo, dict) and 'classes' in metainfo
    if type_name in KNOWN_DATASETS and not custom_classes:
        return KNOWN_DATASETS[type_name]
    data_root = dataset.get('data_root')
    if isinstance(data_root, str) and data_root.strip('./'):
        parts = [part for part in osp.normpath(data_root).split(os.sep) if part not in ('', '.')]
        if 'data' in parts[:-1]:
            return parts[len(parts) - 1 - parts[::-1].index('data') + 1]
        return parts[-1]
    return type_name or None


def dataloader_dataset_name(cfg: Config, *loader_keys: str) -> Optional[str]:
    """The dataset name of the first of the given dataloaders that has a dataset."""
    for key in loader_keys:
        loader = cfg.get(key)
        if isinstance(loader, dict) and loader.get('dataset'):
            name = dataset_name(loader['dataset'])
            if name:
                return name
    return None


def type_name_of(module_cfg: Any) -> str:
    """``'mmsola.SoLAVision'`` -> ``'SoLAVision'``; ``'?'`` when there is no type."""
    if isinstance(module_cfg, dict) and module_cfg.get('type'):
        return str(module_cfg['type']).split('.')[-1]
    return '?'


def describe_backbone(backbone: Any) -> Tuple[str, str, str]:
    """``(name, layout, family)`` of a backbone config, e.g. ``('SoLA-Vision-T',
    'LL, LL, LLSLLS, LS', 'SoLA-Vision')``. Other backbones get their type and arch or depth
    and ``'-'`` as layout."""
    type_name = type_name_of(backbone)
    if type_name != 'SoLAVision':
        variant = None
        if isinstance(backbone, dict):
            variant = backbone.get('arch', backbone.get('depth'))
        name = f'{type_name}-{variant}' if isinstance(variant, (str, int)) else type_name
        return name, MISSING, type_name
    from mmsola.models.backbones import LAYOUT_PRESETS, SoLAVision, resolve_layout

    arch = backbone.get('arch', 'tiny')
    if isinstance(arch, str):
        settings = dict(SoLAVision.arch_zoo.get(arch, {}))
        name = f'SoLA-Vision-{arch[:1].upper()}' if arch in SoLAVision.arch_zoo else \
            f'SoLA-Vision-{arch}'
    else:
        settings = dict(arch)
        dims = '-'.join(str(d) for d in settings.get('embed_dims', ()))
        depths = '-'.join(str(d) for d in settings.get('depths', ()))
        name = f'SoLA-Vision ({dims}, depths {depths})'
    layout = backbone.get('layout', 'sola')
    letters = set(SoLAVision.default_mixers) | set(backbone.get('mixers') or {})
    try:
        stages = resolve_layout(layout, settings['depths'], letters, settings.get('layout'))
        layout_text = ', '.join(stages)
        if isinstance(layout, str) and layout in LAYOUT_PRESETS and layout != 'sola':
            layout_text += f' ({layout})'
    except (KeyError, TypeError, ValueError):
        layout_text = str(layout)
    if backbone.get('early_fusion', True) is False:
        layout_text += '; no early fusion'
    return name, layout_text, 'SoLA-Vision'


def describe_model(model: Any) -> Tuple[str, str]:
    """``(model type, readable name)``: ``('MaskRCNN', 'Mask R-CNN')``,
    ``('EncoderDecoder', 'UperNet')``."""
    model_type = type_name_of(model)
    if model_type == 'EncoderDecoder' and isinstance(model, dict):
        head = type_name_of(model.get('decode_head'))
        return model_type, DECODE_HEAD_NAMES.get(head, head)
    return model_type, MODEL_NAMES.get(model_type, model_type)


def find_source_config(name: str, config_dirs: Sequence[str]) -> Optional[str]:
    """The first ``<name>.py`` under the config dirs (searched recursively)."""
    for config_dir in config_dirs:
        if not osp.isdir(config_dir):
            continue
        for root, dirs, files in os.walk(config_dir):
            dirs.sort()
            if f'{name}.py' in files:
                return osp.abspath(osp.join(root, f'{name}.py'))
    return None


# --------------------------------------------------------------------------------------------
# params and FLOPs


def file_sha256(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def shape_key(shape: Tuple[int, int]) -> str:
    return f'{shape[0]}x{shape[1]}'


def load_complexity_jsons(paths: Iterable[str]) -> Dict[str, Complexity]:
    """Config name -> complexity from files of ``tools/analysis/get_flops.py --json``."""
    records: Dict[str, Complexity] = {}
    for path in paths:
        with open(path, encoding='utf-8') as f:
            content = json.load(f)
        if content.get('part', 'model') != 'model':
            raise ValueError(f'{path} counts the {content.get("part")} only; the tables need '
                             'the whole model (run get_flops.py without --backbone)')
        if 'config' not in content or 'params' not in content:
            raise ValueError(f'{path} is not a get_flops.py --json file (no config/params)')
        shape = content.get('shape')
        records[config_stem(content['config'])] = Complexity(
            params=int(content['params']),
            flops=None if content.get('flops') is None else int(content['flops']),
            shape=tuple(shape) if shape else None,
            source=path)
    return records


def read_complexity_cache(work_dir: str, config_sha256: str) -> Dict[str, Any]:
    """The cache entry of this config (params, FLOPs by shape), or ``{}``."""
    path = osp.join(work_dir, COMPLEXITY_CACHE_NAME)
    if not osp.isfile(path):
        return {}
    try:
        with open(path, encoding='utf-8') as f:
            cache = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(cache, dict) or cache.get('config_sha256') != config_sha256:
        return {}
    return cache


def write_complexity_cache(work_dir: str, cache: Dict[str, Any]) -> None:
    path = osp.join(work_dir, COMPLEXITY_CACHE_NAME)
    try:
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(cache, f, indent=2)
    except OSError as error:
        warnings.warn(f'could not write the complexity cache {path}: {error}',
                      ResultsTableWarning)


def measure_complexity(cfg: Config, task: str, shape: Optional[Tuple[int, int]],
                       with_flops: bool = True) -> Complexity:
    """Params (and FLOPs at ``shape`` = (H, W)) of the model of ``cfg``, as get_flops.py."""
    from .model_builder import build_model_from_config, model_complexity

    model = build_model_from_config(cfg)
    params = sum(p.numel() for p in model.parameters())
    if not with_flops:
        return Complexity(params=params, source='measured')
    height, width = shape or DEFAULT_FLOPS_SHAPES[task]
    result = model_complexity(model, cfg.default_scope, height, width)
    return Complexity(params=int(result['params']), flops=int(result['flops']),
                      shape=(height, width), source='measured')


def resolve_complexity(work_dir: str, config_file: str, cfg: Config, task: str, name: str,
                       records: Dict[str, Complexity], measure: bool, with_flops: bool,
                       flops_shape: Optional[Tuple[int, int]], use_cache: bool) -> Complexity:
    """Complexity from the given records, else the work dir's cache, else measured (cached)."""
    shape = tuple(flops_shape) if flops_shape else DEFAULT_FLOPS_SHAPES[task]
    if name in records:
        return records[name]
    sha = file_sha256(config_file)
    cache = read_complexity_cache(work_dir, sha) if use_cache else {}
    cached_flops = (cache.get('flops') or {}).get(shape_key(shape))
    have_params = cache.get('params') is not None
    if have_params and (cached_flops is not None or not (measure and with_flops)):
        return Complexity(params=int(cache['params']),
                          flops=None if cached_flops is None else int(cached_flops),
                          shape=shape if cached_flops is not None else None,
                          source=osp.join(work_dir, COMPLEXITY_CACHE_NAME))
    if not measure:
        return Complexity()
    try:
        measured = measure_complexity(cfg, task, shape, with_flops)
    except Exception as error:  # one unbuildable model should not cost the whole table
        warnings.warn(f'work dir {work_dir}: could not count params/FLOPs of {config_file} '
                      f'({type(error).__name__}: {error}); shown as {NOT_MEASURED}',
                      ResultsTableWarning)
        return Complexity()
    if use_cache:
        cache = cache or {'config_sha256': sha, 'flops': {}}
        cache['params'] = measured.params
        if measured.flops is not None:
            cache.setdefault('flops', {})[shape_key(shape)] = measured.flops
        write_complexity_cache(work_dir, cache)
    return measured


# --------------------------------------------------------------------------------------------
# a work dir -> RunSummary


def summarize_work_dir(work_dir: str,
                       measure: bool = True,
                       with_flops: bool = True,
                       flops_shape: Optional[Tuple[int, int]] = None,
                       complexity_records: Optional[Dict[str, Complexity]] = None,
                       config_dirs: Sequence[str] = (DEFAULT_CONFIG_DIR, ),
                       use_cache: bool = True) -> RunSummary:
    """Read one work dir (see the module docstring for what comes from where).

    Args:
        work_dir: an mmengine work dir.
        measure: build the model to count params (and FLOPs) when no record or cache has them.
        with_flops: also trace FLOPs when measuring (slow for detectors on CPU).
        flops_shape: (H, W) of the FLOPs input; default by task.
        complexity_records: config name -> :class:`Complexity` (from
            :func:`load_complexity_jsons`), used before the cache and measuring.
        config_dirs: where repository configs of the same name are looked for.
        use_cache: read and write ``<work_dir>/results_table_complexity.json``.

    Raises:
        InvalidWorkDirError: naming the work dir.
    """
    if not osp.exists(work_dir):
        raise InvalidWorkDirError(f'work dir {work_dir} does not exist')
    if not osp.isdir(work_dir):
        raise InvalidWorkDirError(f'work dir {work_dir} is not a folder')
    test_result = read_test_metrics(work_dir)
    tested_config = test_result[1].get('config') if test_result else None
    tested_stem = config_stem(tested_config) if isinstance(tested_config, str) else None
    config_file = find_dumped_config(work_dir, tested_stem)
    try:
        cfg = Config.fromfile(config_file)
    except Exception as error:  # a broken dump: name the work dir, keep the cause
        raise InvalidWorkDirError(f'work dir {work_dir}: cannot read its config {config_file}: '
                                  f'{error}') from error
    scope = cfg.get('default_scope')
    if scope not in TASK_OF_SCOPE:
        raise InvalidWorkDirError(f'work dir {work_dir}: config {config_file} has default_scope '
                                  f'{scope!r}; supported: {sorted(TASK_OF_SCOPE)}')
    task = TASK_OF_SCOPE[scope]
    if osp.basename(config_file) == 'config.py' and osp.basename(
            osp.dirname(config_file)) == 'vis_data':
        name = tested_stem or osp.basename(osp.normpath(work_dir))
    else:
        name = config_stem(config_file)

    source_config = None
    if isinstance(tested_config, str) and config_stem(tested_config) == name and osp.isfile(
            tested_config):
        source_config = osp.abspath(tested_config)
    source_config = source_config or find_source_config(name, config_dirs)

    history = read_history(work_dir)
    if test_result:
        metrics_source, content = test_result
        metrics = numeric_metrics(content['metrics'])
        tested_checkpoint = content.get('checkpoint')
        checkpoint = osp.abspath(tested_checkpoint) if isinstance(
            tested_checkpoint, str) and osp.isfile(tested_checkpoint) else find_checkpoint(work_dir)
        eval_data = dataloader_dataset_name(cfg, 'test_dataloader', 'val_dataloader')
    else:
        metrics, metrics_source = history.metrics, history.metrics_file
        checkpoint = find_checkpoint(work_dir)
        eval_data = dataloader_dataset_name(cfg, 'val_dataloader', 'test_dataloader')

    model_cfg = cfg.get('model') or {}
    backbone, layout, family = describe_backbone(model_cfg.get('backbone'))
    model_type, model_name = describe_model(model_cfg)
    architecture = [family, 'Linear Attention', 'Softmax Attention'] \
        if family == 'SoLA-Vision' else [family]
    if model_name not in architecture and model_type != 'ImageClassifier':
        architecture.append(model_name)

    summary = RunSummary(
        work_dir=osp.abspath(work_dir),
        name=name,
        task=task,
        scope=scope,
        config_file=osp.abspath(config_file),
        source_config=source_config,
        model_type=model_type,
        backbone=backbone,
        layout=layout,
        collection=f'{family} {model_name}',
        architecture=architecture,
        training_data=dataloader_dataset_name(cfg, 'train_dataloader'),
        eval_data=eval_data,
        metrics=metrics,
        metrics_source=metrics_source,
        expected_metrics=expected_metric_keys(cfg, task),
        progress=training_progress(cfg, history, work_dir),
        checkpoint=checkpoint,
        log_file=history.log_file,
        complexity=Complexity())
    if metrics and not summary.trained:
        warnings.warn(f'work dir {work_dir}: {metrics_source} has metrics {sorted(metrics)} but '
                      f'not {TASK_METRICS[task][0].key}; shown as {NOT_TRAINED}',
                      ResultsTableWarning)
    summary.complexity = resolve_complexity(work_dir, config_file, cfg, task, name,
                                            complexity_records or {}, measure, with_flops,
                                            flops_shape, use_cache)
    return summary


def collect_runs(work_dirs: Sequence[str], skip_invalid: bool = False,
                 **options: Any) -> List[RunSummary]:
    """:func:`summarize_work_dir` of each work dir, in the given order.

    Args:
        skip_invalid: warn about and leave out invalid work dirs instead of raising.
        options: passed to :func:`summarize_work_dir`.
    """
    runs = []
    for work_dir in work_dirs:
        try:
            runs.append(summarize_work_dir(work_dir, **options))
        except InvalidWorkDirError as error:
            if not skip_invalid:
                raise
            warnings.warn(f'skipped: {error}', ResultsTableWarning)
    return runs


# --------------------------------------------------------------------------------------------
# markdown


def format_params(params: Optional[int]) -> str:
    return NOT_MEASURED if params is None else f'{params / 1e6:.2f} M'


def format_flops(flops: Optional[int], decimals: int) -> str:
    """``242.4 G``; below 0.1 G (toy models, tiny inputs) in M so that no digits are lost."""
    if flops is None:
        return NOT_MEASURED
    if flops < 1e8:
        return f'{flops / 1e6:.{decimals}f} M'
    return f'{flops / 1e9:.{decimals}f} G'


def format_metric(run: RunSummary, spec: MetricSpec) -> str:
    if not run.trained:
        return NOT_TRAINED
    value = metric_value(run.metrics, spec)
    return MISSING if value is None else f'{value:.{spec.decimals}f}'


def markdown_link(text: str, path: Optional[str], link_dir: str) -> Optional[str]:
    if not path:
        return None
    target = path if '://' in path else osp.relpath(path, link_dir).replace(os.sep, '/')
    return f'[{text}]({target})'


def shown_metric_specs(runs: Sequence[RunSummary], task: str) -> List[MetricSpec]:
    """The task's main metric, and the others some run reports or its evaluator promises."""
    specs = list(TASK_METRICS[task][:1])
    for spec in TASK_METRICS[task][1:]:
        if any(spec.key in run.expected_metrics or metric_value(run.metrics, spec) is not None
               for run in runs):
            specs.append(spec)
    return specs


def format_task_table(runs: Sequence[RunSummary], link_dir: str = '.') -> str:
    """One task's table: Backbone | layout | Params | FLOPs | metrics | trained | config |
    log / checkpoint, preceded by a line that says how params and FLOPs were counted."""
    task = runs[0].task
    specs = shown_metric_specs(runs, task)
    shapes = {run.complexity.shape for run in runs if run.complexity.flops is not None}
    if len(shapes) == 1:
        height, width = next(iter(shapes))
        at = f' at {width} x {height} (W x H)'
    else:
        at = ' at the input given in each cell (H x W)' if shapes else ''
    lines = [f'Params and FLOPs (multiply-accumulates) of the whole model{at}, counted with '
             '`mmsola.analysis.count_complexity`; metrics of the last evaluation (test, else '
             'validation).', '']
    header = ['Backbone', 'layout', 'Params', 'FLOPs'] + [spec.column for spec in specs] + [
        'trained', 'config', 'log / checkpoint']
    lines.append('| ' + ' | '.join(header) + ' |')
    lines.append('|' + '---|' * len(header))
    for run in runs:
        flops = format_flops(run.complexity.flops, FLOPS_DECIMALS[task])
        if len(shapes) > 1 and run.complexity.shape:
            flops += f' ({shape_key(run.complexity.shape)})'
        config = run.source_config or run.config_file
        links = [link for link in (markdown_link('log', run.log_file, link_dir),
                                   markdown_link('model', run.checkpoint, link_dir)) if link]
        cells = [run.backbone, run.layout, format_params(run.complexity.params), flops]
        cells += [format_metric(run, spec) for spec in specs]
        cells += [run.progress.describe(), markdown_link(osp.basename(config), config, link_dir),
                  ' \\| '.join(links) or MISSING]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def format_markdown(runs: Sequence[RunSummary], link_dir: str = '.') -> str:
    """One table per task (cls, det, seg); with several tasks each gets a heading."""
    tasks = [task for task in TASK_ORDER if any(run.task == task for run in runs)]
    parts = []
    for task in tasks:
        table = format_task_table([run for run in runs if run.task == task], link_dir)
        parts.append(f'### {TASK_TITLES[task]}\n\n{table}' if len(tasks) > 1 else table)
    return '\n\n'.join(parts) + '\n'


def replace_marked_section(text: str, content: str, source: str = 'the text') -> str:
    """Replace what lies between :data:`TABLE_START_MARKER` and :data:`TABLE_END_MARKER`
    (the markers stay, the rest of ``text`` is kept byte for byte).

    Raises:
        MarkerError: naming ``source`` when the markers are missing, repeated or out of order.
    """
    starts = text.count(TABLE_START_MARKER)
    ends = text.count(TABLE_END_MARKER)
    if starts != 1 or ends != 1:
        raise MarkerError(f'{source} needs exactly one {TABLE_START_MARKER} and one '
                         f'{TABLE_END_MARKER} line around the results table '
                         f'(found {starts} and {ends})')
    begin = text.index(TABLE_START_MARKER) + len(TABLE_START_MARKER)
    end = text.index(TABLE_END_MARKER)
    if end < begin:
        raise MarkerError(f'{source}: {TABLE_END_MARKER} comes before {TABLE_START_MARKER}')
    return text[:begin] + '\n' + content.strip('\n') + '\n' + text[end:]


def update_readme(path: str, markdown: str) -> bool:
    """Put ``markdown`` between the markers of the README at ``path``; True if it changed."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'README {path} does not exist')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    updated = replace_marked_section(text, markdown, path)
    if updated != text:
        with open(path, 'w', encoding='utf-8') as f:
            f.write(updated)
    return updated != text


# --------------------------------------------------------------------------------------------
# metafile and model-index


def portable_path(path: str, root: str) -> str:
    """``path`` relative to ``root`` with '/' when inside it, else absolute."""
    path = osp.abspath(path)
    relative = osp.relpath(path, osp.abspath(root))
    return path if relative.startswith('..') else relative.replace(os.sep, '/')


def metafile_results(run: RunSummary) -> List[dict]:
    """``Results`` of a trained run: one entry per metafile task, in percent."""
    results: List[dict] = []
    for spec in TASK_METRICS[run.task]:
        value = metric_value(run.metrics, spec)
        if value is None:
            continue
        entry = next((r for r in results if r['Task'] == spec.task), None)
        if entry is None:
            entry = {'Task': spec.task, 'Dataset': run.eval_data or 'unknown', 'Metrics': {}}
            results.append(entry)
        entry['Metrics'][spec.name] = value
    return results


def metafile_model(run: RunSummary, root: str,
                   weights_url_prefix: Optional[str] = None) -> Dict[str, Any]:
    """The ``Models`` entry of a run; ``Results`` and ``Weights`` only when trained."""
    metadata: Dict[str, Any] = {}
    if run.training_data:
        metadata['Training Data'] = run.training_data
    if run.complexity.flops is not None:
        metadata['FLOPs'] = run.complexity.flops
    if run.complexity.params is not None:
        metadata['Parameters'] = run.complexity.params
    if run.progress.reached is not None:
        metadata['Epochs' if run.progress.unit == 'epoch' else 'Iterations'] = \
            run.progress.reached
    model: Dict[str, Any] = {
        'Name': run.name,
        'In Collection': run.collection,
        'Config': portable_path(run.source_config or run.config_file, root),
        'Metadata': metadata,
    }
    if run.trained:
        model['Results'] = metafile_results(run)
        if run.checkpoint:
            if weights_url_prefix:
                model['Weights'] = (f'{weights_url_prefix.rstrip("/")}/{run.name}/'
                                    f'{osp.basename(run.checkpoint)}')
            else:
                model['Weights'] = portable_path(run.checkpoint, root)
    return model


def metafile_collection(run: RunSummary) -> Dict[str, Any]:
    collection: Dict[str, Any] = {'Name': run.collection, 'Metadata': {}}
    if run.training_data:
        collection['Metadata']['Training Data'] = run.training_data
    collection['Metadata']['Architecture'] = list(run.architecture)
    if run.architecture[0] == 'SoLA-Vision':
        collection['Paper'] = dict(SOLA_PAPER)
    return collection


def build_metafile(runs: Sequence[RunSummary], root: str = '.',
                   existing: Optional[Dict[str, Any]] = None,
                   weights_url_prefix: Optional[str] = None) -> Dict[str, Any]:
    """An OpenMMLab metafile (``Collections``, ``Models``) of the runs.

    With ``existing`` (a loaded metafile), models of the same ``Name`` are updated in place:
    their ``In Collection`` and ``Config`` are kept, ``Metadata`` keys are overwritten with
    what was measured, and ``Results``/``Weights`` are replaced when the run is trained and
    left as they were when it is not. Other models and all collections are kept; new models
    are appended and get a new collection when theirs is missing.

    Args:
        root: paths (``Config``, local ``Weights``) are written relative to this folder, the
            one of ``model-index.yml``.
        weights_url_prefix: write ``Weights`` as ``<prefix>/<model name>/<checkpoint file>``
            instead of the local path.
    """
    metafile = dict(existing or {})
    collections = list(metafile.get('Collections') or [])
    models = list(metafile.get('Models') or [])
    work_dir_of_name: Dict[str, str] = {}
    for run in runs:
        if run.name in work_dir_of_name:
            warnings.warn(f'work dirs {work_dir_of_name[run.name]} and {run.work_dir} are both '
                          f'model {run.name}; the metafile keeps the last one',
                          ResultsTableWarning)
        work_dir_of_name[run.name] = run.work_dir
        fresh = metafile_model(run, root, weights_url_prefix)
        index = next((i for i, m in enumerate(models) if m.get('Name') == run.name), None)
        if index is None:
            models.append(fresh)
        else:
            old = models[index]
            merged = {'Name': run.name,
                      'In Collection': old.get('In Collection', fresh['In Collection']),
                      'Config': old.get('Config', fresh['Config']),
                      'Metadata': {**(old.get('Metadata') or {}), **fresh['Metadata']}}
            for key in ('Results', 'Weights'):
                if key in fresh or key in old:
                    merged[key] = fresh[key] if run.trained and key in fresh else old.get(key)
            merged.update({k: v for k, v in old.items() if k not in merged})
            models[index] = {k: v for k, v in merged.items() if v is not None}
        collection_name = models[index if index is not None else -1]['In Collection']
        if not any(c.get('Name') == collection_name for c in collections):
            collection = metafile_collection(run)
            collection['Name'] = collection_name
            collections.append(collection)
    others = {k: v for k, v in metafile.items() if k not in ('Collections', 'Models')}
    return {'Collections': collections, 'Models': models, **others}


class _IndentedDumper(yaml.SafeDumper):
    """Block style with lists indented under their key, as OpenMMLab's metafiles."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def dump_yaml(data: Dict[str, Any]) -> str:
    """YAML in the metafiles' style, with a blank line between the entries of top-level lists."""
    text = yaml.dump(data, Dumper=_IndentedDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
    lines = text.splitlines()
    spaced: List[str] = []
    for line in lines:
        if line.startswith('  - ') and spaced and not spaced[-1].endswith(':'):
            spaced.append('')
        elif not line.startswith(' ') and spaced:
            spaced.append('')
        spaced.append(line)
    return '\n'.join(spaced) + '\n'


def load_yaml(path: str) -> Dict[str, Any]:
    with open(path, encoding='utf-8') as f:
        content = yaml.safe_load(f)
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ValueError(f'{path} is not a YAML mapping')
    return content


def write_metafile(path: str, runs: Sequence[RunSummary], root: str = '.',
                   weights_url_prefix: Optional[str] = None) -> Dict[str, Any]:
    """Create the metafile at ``path`` or merge the runs into it (:func:`build_metafile`)."""
    existing = load_yaml(path) if osp.isfile(path) else None
    metafile = build_metafile(runs, root, existing, weights_url_prefix)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(dump_yaml(metafile))
    return metafile


def add_to_model_index(index_path: str, metafile_path: str) -> bool:
    """Add the metafile to the ``Import`` list of ``model-index.yml`` (created if missing);
    True if it was not there yet."""
    index = load_yaml(index_path) if osp.isfile(index_path) else {}
    entry = portable_path(metafile_path, osp.dirname(osp.abspath(index_path)))
    imports = list(index.get('Import') or [])
    if entry in imports:
        return False
    imports.append(entry)
    index['Import'] = imports
    with open(index_path, 'w', encoding='utf-8') as f:
        f.write(yaml.dump(index, Dumper=_IndentedDumper, sort_keys=False,
                          default_flow_style=False))
    return True


# --------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='tools/analysis/results_table.py',
        description='Params, FLOPs and final metrics of mmengine work dirs as markdown tables '
        'and an OpenMMLab metafile. With no --markdown file the tables go to stdout.')
    parser.add_argument('work_dirs', nargs='+', help='work dirs of tools/train.py / test.py')
    parser.add_argument('--markdown', metavar='FILE', help='write the tables to FILE')
    parser.add_argument('--update-readme', metavar='README', action='append', default=[],
                        help=f'replace the text between {TABLE_START_MARKER} and '
                        f'{TABLE_END_MARKER} in README (repeatable); an error if the markers '
                        'are missing')
    parser.add_argument('--metafile', metavar='FILE',
                        help='write an OpenMMLab metafile; an existing one is updated (models '
                        'matched by name, everything else kept)')
    parser.add_argument('--model-index', metavar='FILE',
                        help='add the metafile to the Import list of this model-index.yml; '
                        'metafile paths are then relative to its folder (default: the '
                        'current folder)')
    parser.add_argument('--weights-url-prefix', metavar='URL',
                        help='metafile Weights as URL/<model name>/<checkpoint file>')
    parser.add_argument('--no-flops', action='store_true',
                        help='do not trace FLOPs (params are still counted; FLOPs already '
                        'cached or given by --complexity-json are shown)')
    parser.add_argument('--no-complexity', action='store_true',
                        help='build no model: params/FLOPs only from --complexity-json or '
                        'the cache')
    parser.add_argument('--flops-shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='FLOPs input for every work dir (default: 224x224 cls, '
                        '800x1280 det, 512x2048 seg, as H W)')
    parser.add_argument('--complexity-json', nargs='+', default=[], metavar='FILE',
                        help='files of tools/analysis/get_flops.py --json, matched to work dirs '
                        'by config name')
    parser.add_argument('--no-cache', action='store_true',
                        help=f'neither read nor write <work_dir>/{COMPLEXITY_CACHE_NAME}')
    parser.add_argument('--config-dir', action='append', metavar='DIR',
                        help='where to look for the repository config of each run (default: '
                        'this checkout\'s configs/)')
    parser.add_argument('--skip-invalid', action='store_true',
                        help='warn about and skip work dirs that are missing or have no '
                        'config, instead of stopping with an error')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line of ``tools/analysis/results_table.py``; returns the exit status
    (2 with a one-line error for an invalid work dir or README)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.model_index and not args.metafile:
        parser.error('--model-index needs --metafile')
    try:
        return write_outputs(args)
    except (InvalidWorkDirError, MarkerError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2


def write_outputs(args: argparse.Namespace) -> int:
    """Collect the runs of ``args.work_dirs`` and write what the arguments ask for."""
    runs = collect_runs(
        args.work_dirs,
        skip_invalid=args.skip_invalid,
        measure=not args.no_complexity,
        with_flops=not args.no_flops,
        flops_shape=tuple(args.flops_shape) if args.flops_shape else None,
        complexity_records=load_complexity_jsons(args.complexity_json),
        config_dirs=args.config_dir or [DEFAULT_CONFIG_DIR],
        use_cache=not args.no_cache)
    if not runs:
        print('no valid work dir among ' + ', '.join(args.work_dirs), file=sys.stderr)
        return 1
    if args.markdown:
        link_dir = osp.dirname(osp.abspath(args.markdown))
        with open(args.markdown, 'w', encoding='utf-8') as f:
            f.write(format_markdown(runs, link_dir))
        print(f'tables written to {args.markdown}', file=sys.stderr)
    else:
        sys.stdout.write(format_markdown(runs, os.getcwd()))
    for readme in args.update_readme:
        changed = update_readme(readme, format_markdown(runs, osp.dirname(osp.abspath(readme))))
        print(f'{readme}: {"updated" if changed else "unchanged"}', file=sys.stderr)
    if args.metafile:
        root = osp.dirname(osp.abspath(args.model_index)) if args.model_index else os.getcwd()
        write_metafile(args.metafile, runs, root, args.weights_url_prefix)
        print(f'metafile written to {args.metafile}', file=sys.stderr)
        if args.model_index:
            added = add_to_model_index(args.model_index, args.metafile)
            print(f'{args.model_index}: {"import added" if added else "already imports it"}',
                  file=sys.stderr)
    return 0
