"""Layer-wise learning-rate decay for classifiers, detectors and segmentors alike."""
from functools import partial
from typing import Callable, List, Optional

import torch.nn as nn
from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor

from mmsola.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(LearningRateDecayOptimWrapperConstructor):
    """mmpretrain's layer-wise lr decay, made to work for any model with a ``backbone``.

    mmpretrain's constructor needs ``model.get_layer_depth``, which only its classifiers have.
    Here a model without one uses ``model.backbone.get_layer_depth(name, prefix='backbone.')``,
    so the same ``paramwise_cfg=dict(layer_decay_rate=...)`` works in mmdet and mmseg configs.
    Parameters outside the backbone (necks, heads) get the full learning rate.

    Example:
        >>> optim_wrapper = dict(
        ...     constructor='mmsola.LayerDecayOptimWrapperConstructor',
        ...     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        ...     paramwise_cfg=dict(layer_decay_rate=0.9, norm_decay_mult=0.))
    """

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   get_layer_depth: Optional[Callable] = None,
                   **kwargs) -> None:
        if get_layer_depth is None and not hasattr(module, 'get_layer_depth'):
            backbone = getattr(module, 'backbone', None)
            if not hasattr(backbone, 'get_layer_depth'):
                raise TypeError(
                    f'{type(self).__name__} needs a model with `get_layer_depth` or a '
                    f'`backbone` with one; {type(module).__name__} has neither')
            get_layer_depth = partial(backbone.get_layer_depth, prefix='backbone.')
        super().add_params(params, module, prefix, get_layer_depth=get_layer_depth, **kwargs)
