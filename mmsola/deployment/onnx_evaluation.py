"""Evaluate an exported classifier or segmentor with ONNX Runtime, as ``tools/test.py`` would.

The test dataloader and the evaluator are built from the config with MMEngine (as the Runner
builds them); every batch goes through the model's own data preprocessor (casting, BGR->RGB,
normalisation, padding), is turned back into the 0-255 images the exported graph takes (see
:mod:`mmsola.deployment.onnx_export`), runs in ONNX Runtime, and the outputs become the data
samples the PyTorch model would return, through the library's own post-processing:

- classification: ``head._get_predictions`` of mmpretrain (softmax ``pred_score``, argmax
  ``pred_label``);
- segmentation: ``postprocess_result`` of mmseg's ``EncoderDecoder`` (padding removed, flip
  undone, logits resized to the original image shape, argmax ``pred_sem_seg``).

The model is built from the config (by :func:`mmsola.apis.init_model`, without
weights) for those two pieces only; the weights that count are those in the ONNX file.
"""
import os.path as osp
import time
from typing import Callable, Dict, Optional, Union

import numpy as np
import torch
from mmengine.config import Config

from mmsola.apis import TASK_OF_SCOPE, init_model

from .onnx_export import INPUT_NAME, create_session


def images_for_graph(data_preprocessor: torch.nn.Module, data: dict) -> torch.Tensor:
    """A dataloader batch -> (B, 3, H, W) float 0-255 images in the model's channel order.

    The data preprocessor does what it does for the PyTorch model (cast, BGR->RGB, normalise,
    stack, pad); the normalisation is then undone, so that padding keeps the value the PyTorch
    model sees once the graph normalises again.

    Returns:
        the images; ``data['data_samples']`` is replaced by the preprocessor's (with padding
        metadata) in place.
    """
    processed = data_preprocessor(data, False)
    data['data_samples'] = processed['data_samples']
    inputs = processed['inputs'].float()
    if getattr(data_preprocessor, '_enable_normalize', False):
        inputs = inputs * data_preprocessor.std.view(1, -1, 1, 1) + \
            data_preprocessor.mean.view(1, -1, 1, 1)
    return inputs


def build_test_evaluator(cfg: Config):
    """The ``test_evaluator`` of ``cfg`` built as MMEngine's Runner builds it: a dict with
    ``metrics`` is an evaluator config (type ``Evaluator`` by default); a metric dict or a list
    of metrics goes into ``Evaluator``."""
    from mmengine.evaluator import Evaluator
    from mmengine.registry import EVALUATOR
    evaluator_cfg = cfg.get('test_evaluator')
    if evaluator_cfg is None:
        raise ValueError(f'config {cfg.filename} has no test_evaluator')
    if isinstance(evaluator_cfg, dict) and 'metrics' in evaluator_cfg:
        return EVALUATOR.build(dict(dict(type='Evaluator'), **evaluator_cfg))
    return Evaluator(evaluator_cfg)


def evaluate_onnx(config: Union[str, Config],
                  onnx_file: str,
                  cfg_options: Optional[dict] = None,
                  threads: Optional[int] = None,
                  log: Callable[[str], None] = print) -> Dict[str, float]:
    """Metrics of the exported model ``onnx_file`` on the test set of ``config``.

    Args:
        config: the config the file was exported from (path or Config).
        onnx_file: a classifier or segmentor written by :func:`export_onnx`.
        cfg_options: ``--cfg-options`` overrides (e.g. the data root).
        threads: ONNX Runtime intra-op threads (default: torch's).
        log: where progress lines go.

    Returns:
        the evaluator's metrics, as ``tools/test.py`` returns them.

    Raises:
        ValueError: for a config that is not a classifier or a segmentor, a segmentor tested by
            sliding window, or an ONNX file of another task, naming the config or the file.
    """
    from mmengine.runner import Runner

    # The library's pre- and post-processing; the weights that count are the ONNX file's.
    model = init_model(config, cfg_options=cfg_options)
    cfg = model.cfg
    task = TASK_OF_SCOPE[cfg.default_scope]
    if task not in ('classification', 'segmentation'):
        raise ValueError(f'config {cfg.filename}: ONNX Runtime evaluation covers classifiers '
                         f'(mmpretrain) and segmentors (mmseg), not {task}')
    if task == 'segmentation':
        mode = (model.test_cfg or {}).get('mode', 'whole')
        if mode != 'whole':
            raise ValueError(f'config {cfg.filename}: model.test_cfg.mode is {mode!r}; the '
                             "exported graph runs whole-image inference (mode='whole')")

    session = create_session(onnx_file, threads)
    file_task = session.get_modelmeta().custom_metadata_map.get('mmsola_task')
    if file_task is not None and file_task != task:
        raise ValueError(f'{onnx_file} holds a {file_task} graph; config {cfg.filename} tests a '
                         f'{task} model')

    dataloader = Runner.build_dataloader(cfg.test_dataloader)
    evaluator = build_test_evaluator(cfg)
    if hasattr(dataloader.dataset, 'metainfo'):
        evaluator.dataset_meta = dataloader.dataset.metainfo
    log(f'[onnx_test] {osp.basename(onnx_file)}: {len(dataloader.dataset)} images of '
        f'{cfg.filename}, {task}')
    start = time.perf_counter()
    for data in dataloader:
        with torch.no_grad():
            images = images_for_graph(model.data_preprocessor, data)
            logits = torch.from_numpy(
                session.run(None, {INPUT_NAME: np.ascontiguousarray(images.numpy())})[0])
            if task == 'classification':
                samples = model.head._get_predictions(logits, data['data_samples'])
            else:
                samples = model.postprocess_result(logits, data['data_samples'])
        evaluator.process(data_samples=samples, data_batch=data)
    metrics = evaluator.evaluate(len(dataloader.dataset))
    log(f'[onnx_test] {time.perf_counter() - start:.1f} s: {metrics}')
    return metrics

