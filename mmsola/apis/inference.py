"""A model from a config and a checkpoint, and its predictions on images, for all three tasks.

The shape of the anchors' APIs (``mmdet.apis.init_detector`` / ``inference_detector``,
``mmseg.apis.init_model`` / ``inference_model``, ``mmpretrain.apis.get_model`` /
``inference_model``), one pair for every config mmsola ships: the task follows from the
config's ``default_scope``.

    >>> from mmsola.apis import init_model, inference_model
    >>> model = init_model('configs/demo/upernet_sola-mini_shapes.py', 'iter_2000.pth')
    >>> result = inference_model(model, 'scene.png')    # a SegDataSample
    >>> result.pred_sem_seg.data.shape                   # (1, H, W) of the image
"""
import copy
import importlib
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.structures import BaseDataElement

#: The task each supported ``default_scope`` trains.
TASK_OF_SCOPE = {'mmpretrain': 'classification', 'mmdet': 'detection', 'mmseg': 'segmentation'}
#: Pipeline steps that read labels; a prediction has none to read.
ANNOTATION_LOADERS = ('LoadAnnotations', 'mmdet.LoadAnnotations', 'mmseg.LoadAnnotations')

ImageInput = Union[str, np.ndarray]


def build_model(cfg: Config) -> nn.Module:
    """The model of ``cfg`` from the registry of its ``default_scope``, in eval mode.

    A top-level ``data_preprocessor`` is moved into the model as mmengine's Runner does.

    Raises:
        ValueError: naming the config's ``default_scope`` when it is not one of mmpretrain,
            mmdet or mmseg.
    """
    scope = cfg.get('default_scope')
    if scope not in TASK_OF_SCOPE:
        raise ValueError(f'config {cfg.filename} has default_scope {scope!r}; mmsola builds '
                         f'models of {sorted(TASK_OF_SCOPE)}')
    init_default_scope(scope)
    model_cfg = cfg.model.copy()
    if 'data_preprocessor' not in model_cfg and cfg.get('data_preprocessor'):
        model_cfg.data_preprocessor = cfg.data_preprocessor
    return importlib.import_module(f'{scope}.registry').MODELS.build(model_cfg).eval()


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Config (path or object) + checkpoint + ``--cfg-options`` -> model in eval mode.

    The config is kept on the model as ``model.cfg``, and the checkpoint's class names and
    palette (``meta.dataset_meta``) as ``model.dataset_meta``, as mmdet's ``init_detector``
    does, so the libraries' inferencers and visualizers can be built from it. The checkpoint is
    read with mmsola's safe loading; missing and unexpected keys are logged.

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


def test_pipeline(cfg: Config, from_array: bool) -> Compose:
    """The config's test pipeline without its label loaders; without its image loader too for
    images given as arrays, which :func:`inference_model` passes in directly."""
    steps = [step for step in copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
             if step['type'] not in ANNOTATION_LOADERS]
    if from_array:
        steps = steps[1:]
    transforms = importlib.import_module(f'{cfg.default_scope}.registry').TRANSFORMS
    return Compose([transforms.build(step) for step in steps])


def inference_model(model: nn.Module, images: Union[ImageInput, Sequence[ImageInput]]
                    ) -> Union[BaseDataElement, List[BaseDataElement]]:
    """Predictions of a model from :func:`init_model` on one image or a list of them.

    Args:
        model: the model, with ``model.cfg`` (set by :func:`init_model`).
        images: image file paths or loaded images (H, W, 3) BGR ``uint8`` arrays, as OpenCV
            reads them; one, or a list.

    Returns:
        The task's data sample (mmpretrain ``DataSample`` with ``pred_label`` and
        ``pred_score``, mmdet ``DetDataSample`` with ``pred_instances``, mmseg
        ``SegDataSample`` with ``pred_sem_seg``) for one image, a list of them for a list.
    """
    cfg = model.cfg
    single = not isinstance(images, (list, tuple))
    images = [images] if single else list(images)
    from_array = [isinstance(image, np.ndarray) for image in images]
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        pipelines = {flag: test_pipeline(cfg, flag) for flag in set(from_array)}
        batch = dict(inputs=[], data_samples=[])
        for index, (image, is_array) in enumerate(zip(images, from_array)):
            item = dict(img=image, img_shape=image.shape[:2], ori_shape=image.shape[:2],
                        img_path=None) if is_array else dict(img_path=image)
            packed = pipelines[is_array](dict(item, img_id=index))
            batch['inputs'].append(packed['inputs'])
            batch['data_samples'].append(packed['data_samples'])
        with torch.no_grad():
            results = model.test_step(batch)
    return results[0] if single else results
