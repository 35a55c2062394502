"""FLOP counting that sees every matrix product of the attention layers.

Convention (that of mmengine/fvcore and of the published numbers we compare with): one
multiply-accumulate of a matrix product or convolution counts as one FLOP, so "FLOPs" here are
MACs; norms count as mmengine's handles say; other elementwise ops (activations, the rotary
rotation, the linear attention's normaliser) are not counted. mmengine has no handle for
``scaled_dot_product_attention``, which would count the global softmax layers as zero:
:func:`sdpa_flop_jit` adds their two products. The linear attention's products go through
``matmul`` and are counted by mmengine's own handle.
"""
from math import prod
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import get_shape

#: Input (H, W) that FLOPs are reported at, per ``default_scope``, as in the papers: 224^2,
#: 1280 x 800, 2048 x 512.
DEFAULT_SHAPES = {'mmpretrain': (224, 224), 'mmdet': (800, 1280), 'mmseg': (512, 2048)}


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """MACs of ``softmax(q k^T) v``: (..., Nq, d) x (..., Nk, d) and (..., Nq, Nk) x (..., Nk, dv)."""
    q_shape, k_shape, v_shape = (get_shape(v) for v in inputs[:3])
    batch = prod(q_shape[:-2])
    queries, dims = q_shape[-2:]
    keys, value_dims = k_shape[-2], v_shape[-1]
    return batch * queries * keys * (dims + value_dims)


def count_complexity(model: nn.Module, inputs: Tuple[torch.Tensor, ...]) -> Dict[str, Any]:
    """Params and FLOPs (MACs) of ``model(*inputs)``, in total and per top-level module.

    Returns:
        dict: ``params``, ``flops``, ``flops_by_module`` (name -> FLOPs, first two levels) and
        ``uncounted_ops`` (op -> calls left out by the convention above).
    """
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    by_module = analyzer.by_module()
    return dict(
        params=parameter_count(model)[''],
        flops=analyzer.total(),
        flops_by_module={name: count for name, count in by_module.items()
                         if name and name.count('.') <= 1},
        uncounted_ops=dict(analyzer.unsupported_ops()))


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
        the dict of :func:`count_complexity`.
    """
    if backbone_only:
        target = model.backbone
    elif scope == 'mmdet':
        target = TensorForward(model, detection_samples(height, width))
    else:
        target = TensorForward(model)
    with torch.no_grad():
        return count_complexity(target, (torch.randn(1, 3, height, width), ))
