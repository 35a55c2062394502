"""The one way every analysis tool goes from a config (and a checkpoint) to a model.

``load_model`` reads the config through :func:`mmsola.engine.cli.load_config` (the checks
``tools/train.py`` and ``tools/test.py`` apply), builds the model from the registry of the
config's ``default_scope`` as the Runner does, and loads weights with mmengine's
``load_checkpoint`` (safe loading; missing and unexpected keys logged).
"""
import glob
import importlib
import json
import os.path as osp
from typing import List, Optional, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.utils import scandir

#: The task each supported ``default_scope`` trains.
TASK_OF_SCOPE = {'mmpretrain': 'classification', 'mmdet': 'detection', 'mmseg': 'segmentation'}
#: Input (H, W) that FLOPs are reported at, as in the papers: 224^2, 1280 x 800, 2048 x 512.
DEFAULT_SHAPES = {'mmpretrain': (224, 224), 'mmdet': (800, 1280), 'mmseg': (512, 2048)}


def build_model(cfg: Config) -> nn.Module:
    """The model of ``cfg`` from the registry of its ``default_scope``, in eval mode.

    A top-level ``data_preprocessor`` is moved into the model as mmengine's Runner does.

    Raises:
        ValueError: naming the config's ``default_scope`` when it is not one of mmpretrain,
            mmdet or mmseg.
    """
    from mmengine.registry import init_default_scope

    scope = cfg.get('default_scope')
    if scope not in TASK_OF_SCOPE:
        raise ValueError(f'config {cfg.filename} has default_scope {scope!r}; the analysis '
                         f'tools support {sorted(TASK_OF_SCOPE)}')
    init_default_scope(scope)
    model_cfg = cfg.model.copy()
    if 'data_preprocessor' not in model_cfg and cfg.get('data_preprocessor'):
        model_cfg.data_preprocessor = cfg.data_preprocessor
    return importlib.import_module(f'{scope}.registry').MODELS.build(model_cfg).eval()


def load_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               cfg_options: Optional[dict] = None,
               device: str = 'cpu') -> nn.Module:
    """Config (path or object) + checkpoint + ``--cfg-options`` -> model in eval mode.

    The config is kept on the model as ``model.cfg``, and the checkpoint's class names and
    palette (``meta.dataset_meta``) as ``model.dataset_meta``, as mmdet's ``init_detector``
    does, so the libraries' inferencers and visualizers can be built from it.

    Raises:
        FileNotFoundError: naming the config or the checkpoint when it does not exist.
    """
    from mmengine.runner import load_checkpoint

    from mmsola.engine.cli import load_config
    if isinstance(config, Config):
        cfg = config.copy()
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
    else:
        cfg = load_config(config, cfg_options=cfg_options)
    model = build_model(cfg)
    if checkpoint is not None:
        loaded = load_checkpoint(model, checkpoint, map_location='cpu', logger='current')
        dataset_meta = loaded.get('meta', {}).get('dataset_meta')
        if dataset_meta:
            model.dataset_meta = dataset_meta
    model.cfg = cfg
    return model.to(device).eval()


#: File endings the tools accept as images (those OpenCV reads).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def list_images(path: str) -> List[str]:
    """An image file, or the image files of a folder and its sub-folders (sorted).

    Raises:
        FileNotFoundError: naming ``path`` when it does not exist or holds no image.
    """
    if not osp.exists(path):
        raise FileNotFoundError(f'image or folder {path} does not exist')
    if not osp.isdir(path):
        return [path]
    files = sorted(osp.join(path, name)
                   for name in scandir(path, suffix=IMAGE_EXTENSIONS, recursive=True,
                                       case_sensitive=False))
    if not files:
        raise FileNotFoundError(f'folder {path} holds no images ({", ".join(IMAGE_EXTENSIONS)})')
    return files


def latest_run_scalars(work_dir: str) -> List[dict]:
    """The scalar lines (training and validation) of the newest run in an mmengine work dir.

    MMEngine writes each run to ``<work_dir>/<timestamp>/vis_data/scalars.json``; only the
    newest run is read, so an earlier, interrupted or repeated run never mixes in. Lines cut
    short by a crash are skipped.

    Raises:
        FileNotFoundError: naming ``work_dir`` when it holds no run with scalars.
    """
    runs = sorted(glob.glob(osp.join(work_dir, '[0-9]' * 8 + '_' + '[0-9]' * 6, 'vis_data',
                                     'scalars.json')))
    if not runs:
        raise FileNotFoundError(f'{work_dir} holds no <timestamp>/vis_data/scalars.json')
    lines = []
    with open(runs[-1], encoding='utf-8') as f:
        for line in f:
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return [line for line in lines if isinstance(line, dict)]
