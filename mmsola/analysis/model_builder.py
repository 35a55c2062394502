"""Build the model of any mmsola config the way the Runner would, for the analysis tools."""
import importlib
from typing import Any, Dict, Optional

import torch
import torch.nn as nn
from mmengine.config import Config

TASK_OF_SCOPE = {'mmpretrain': 'classification', 'mmdet': 'detection', 'mmseg': 'segmentation'}


def build_model_from_config(cfg: Config) -> nn.Module:
    """The model of ``cfg`` from the registry of its ``default_scope``, in eval mode.

    A top-level ``data_preprocessor`` is moved into the model as mmengine's Runner does.

    Raises:
        ValueError: naming the config's ``default_scope`` when it is not one of mmpretrain,
            mmdet or mmseg.
    """
    import mmsola  # noqa: F401  (mmsola:: types in configs)
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


class TensorForward(nn.Module):
    """``model(inputs, data_samples, mode='tensor')`` as a one-input module, for tracing."""

    def __init__(self, model: nn.Module, data_samples: Optional[list] = None) -> None:
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs: torch.Tensor) -> Any:
        return self.model(inputs, self.data_samples, mode='tensor')


def detection_samples(height: int, width: int) -> list:
    """One mmdet data sample with the meta a detector's ``tensor`` mode needs at (H, W)."""
    from mmdet.structures import DetDataSample
    shape = (height, width)
    return [DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape,
                                        batch_input_shape=shape, scale_factor=(1.0, 1.0)))]


def model_complexity(model: nn.Module, scope: str, height: int, width: int,
                     backbone_only: bool = False) -> Dict[str, Any]:
    """Params and FLOPs (MACs) of a built model (or its backbone) on one (1, 3, H, W) input.

    Returns:
        the dict of :func:`mmsola.analysis.count_complexity`.
    """
    from .flops import count_complexity
    if backbone_only:
        target = model.backbone
    elif scope == 'mmdet':
        target = TensorForward(model, detection_samples(height, width))
    else:
        target = TensorForward(model)
    with torch.no_grad():
        return count_complexity(target, (torch.randn(1, 3, height, width), ))
