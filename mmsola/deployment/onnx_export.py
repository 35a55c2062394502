"""Export an mmsola model to ONNX and check the file against PyTorch with ONNX Runtime.

What is exported: the classifier (mmpretrain ``ImageClassifier`` -> logits), the segmentor
(mmseg ``EncoderDecoder``, e.g. UperNet -> per-pixel logits at the input size) or the backbone
alone (one output per ``out_indices``). Detectors are not: Mask R-CNN's RoI operators and
box/mask post-processing are mmdeploy's business; their backbone exports like any other.

Input contract of every exported graph: **a float32 image batch (B, 3, H, W) with values in
0-255**, in the channel order the model sees after its data preprocessor's BGR->RGB
conversion, which is RGB for every mmsola config. The data preprocessor's ``mean``/``std``
normalisation is part of the graph (:class:`RawImageModel`), so a user feeds decoded image
pixels and nothing else; padding to a size divisor is not (feed any H, W: the graph accepts
any size). This differs from mmdeploy, whose graphs take normalised inputs.

The exporter is ``torch.onnx.export(..., dynamo=True)``: the TorchScript exporter fails for
this backbone on torch 2.14. Batch, height and width are dynamic (``Dim.AUTO``) unless a fixed
shape is asked for. What is traced is :func:`exportable_copy` of the model, whose adaptive
average pooling (UperNet's pyramid pooling) computes its bins from the runtime size; the
rotary encoding of the backbone builds its tables inside the graph while tracing.
"""
import copy
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from mmsola.apis import TASK_OF_SCOPE

#: The tasks this module exports, and what each graph returns.
EXPORT_OUTPUTS = {
    'classification': 'logits (B, num_classes)',
    'segmentation': 'seg_logits (B, num_classes, H, W), at the input size',
    'backbone': 'one (B, C_i, ceil(H / 2^(i + 2)), ceil(W / 2^(i + 2))) map per out_indices entry',
}
#: (B, H, W) at which ``--verify`` compares a dynamic graph with PyTorch: odd, non-square and
#: batched sizes, so that a shape the exporter specialised on shows up as an error or a mismatch.
DEFAULT_VERIFY_SHAPES: Tuple[Tuple[int, int, int], ...] = ((1, 97, 131), (2, 224, 224),
                                                           (3, 160, 200))
#: Maximum absolute difference allowed between ONNX Runtime and PyTorch outputs by default.
DEFAULT_TOLERANCE = 1e-4
#: Name of the graph's input.
INPUT_NAME = 'image'


class ExportRefusedError(ValueError):
    """The config's model is not one this exporter writes (a detector, an unknown task)."""


class RawImageModel(nn.Module):
    """A task model behind the data preprocessor's normalisation: 0-255 images in, outputs out.

    Args:
        data_preprocessor: the model's data preprocessor; its ``mean`` and ``std`` buffers are
            copied when it normalises (``_enable_normalize``), otherwise images pass unchanged.
        output_names: one name per output of :meth:`run`.

    Shapes:
        forward: (B, 3, H, W) float, 0-255, in :func:`input_channel_order` (RGB for mmsola's
        configs) -> tuple of the outputs of :meth:`run`.
    """

    def __init__(self, data_preprocessor: Optional[nn.Module],
                 output_names: Sequence[str]) -> None:
        super().__init__()
        mean, std = torch.zeros(3), torch.ones(3)
        if data_preprocessor is not None and getattr(data_preprocessor, '_enable_normalize',
                                                     False):
            mean = data_preprocessor.mean.detach().float().flatten().cpu()
            std = data_preprocessor.std.detach().float().flatten().cpu()
        self.register_buffer('mean', mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer('std', std.view(1, -1, 1, 1), persistent=False)
        self.output_names = list(output_names)

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(self.run((images - self.mean) / self.std))

    def run(self, normalised: torch.Tensor) -> Sequence[torch.Tensor]:
        """The task's outputs for a normalised (B, 3, H, W) batch."""
        raise NotImplementedError


class ClassifierForExport(RawImageModel):
    """mmpretrain ``ImageClassifier``: (B, 3, H, W) 0-255 -> logits (B, num_classes), the
    head's scores before softmax (``model(inputs, mode='tensor')``)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__(getattr(classifier, 'data_preprocessor', None), ['logits'])
        self.classifier = classifier

    def run(self, normalised: torch.Tensor) -> Sequence[torch.Tensor]:
        return (self.classifier(normalised, mode='tensor'), )


class SegmentorForExport(RawImageModel):
    """mmseg ``EncoderDecoder``: (B, 3, H, W) 0-255 -> seg_logits (B, num_classes, H, W).

    The logits are those of mmseg's whole-image inference (``encode_decode``: backbone, neck,
    decode head, then a bilinear resize to the input size), before the resize to the original
    image shape and the argmax that ``postprocess_result`` adds.
    """

    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__(getattr(segmentor, 'data_preprocessor', None), ['seg_logits'])
        self.segmentor = segmentor

    def run(self, normalised: torch.Tensor) -> Sequence[torch.Tensor]:
        # decode_head.predict resizes to img_shape when it is a torch.Size: the runtime size.
        metas = [dict(img_shape=normalised.shape[2:])]
        return (self.segmentor.encode_decode(normalised, metas), )


class BackboneForExport(RawImageModel):
    """A backbone: (B, 3, H, W) 0-255 -> one feature map per ``out_indices`` entry, named
    ``stage<i + 1>``, shaped (B, C_i, ceil(H / 2^(i + 2)), ceil(W / 2^(i + 2)))."""

    def __init__(self, backbone: nn.Module, data_preprocessor: Optional[nn.Module]) -> None:
        out_indices = getattr(backbone, 'out_indices', (3, ))
        super().__init__(data_preprocessor, [f'stage{index + 1}' for index in out_indices])
        self.backbone = backbone

    def run(self, normalised: torch.Tensor) -> Sequence[torch.Tensor]:
        return tuple(self.backbone(normalised))


class ExportableAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` written as two averaging matrices built from the runtime size.

    The exporter decomposes ``adaptive_avg_pool2d`` into gathers whose bins are those of the
    example input's size, so a dynamic graph pools wrongly (or fails) at any other size; this
    module computes the same bins, ``[floor(i * n / m), ceil((i + 1) * n / m))`` for output
    ``i`` of ``m`` over ``n`` inputs, from the input's shape at run time.

    Shapes:
        forward: (..., H, W) -> (..., out_h, out_w); an output size of None keeps that size.
    """

    def __init__(self, output_size) -> None:
        super().__init__()
        if isinstance(output_size, int) or output_size is None:
            output_size = (output_size, output_size)
        self.output_size = tuple(output_size)

    @staticmethod
    def averaging_matrix(outputs: int, inputs, like: torch.Tensor) -> torch.Tensor:
        """(outputs, inputs) matrix whose row i averages the inputs of bin i."""
        index = torch.arange(outputs, device=like.device)
        start = (index * inputs) // outputs
        end = ((index + 1) * inputs + outputs - 1) // outputs
        position = torch.arange(inputs, device=like.device)[None, :]
        inside = ((position >= start[:, None]) & (position < end[:, None])).to(like.dtype)
        return inside / inside.sum(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        out_h, out_w = (size if size is not None else full
                        for size, full in zip(self.output_size, (height, width)))
        rows = self.averaging_matrix(out_h, height, x)
        cols = self.averaging_matrix(out_w, width, x)
        return rows @ x @ cols.transpose(0, 1)


def exportable_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` in which every ``nn.AdaptiveAvgPool2d`` that does not pool to
    1 x 1 (e.g. the pyramid pooling of UperNet) is an :class:`ExportableAdaptiveAvgPool2d`;
    global pooling exports correctly as it is."""
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.AdaptiveAvgPool2d) and child.output_size not in (1, (1, 1)):
                setattr(parent, name, ExportableAdaptiveAvgPool2d(child.output_size))
    return module


def task_of_model(model: nn.Module, backbone_only: bool = False) -> str:
    """The export task of a model from :func:`mmsola.apis.init_model`.

    Raises:
        ExportRefusedError: for a detector (unless ``backbone_only``) or a model with no
            backbone, naming the config and what to do instead.
    """
    cfg = getattr(model, 'cfg', None)
    where = f'config {cfg.filename}' if cfg is not None else type(model).__name__
    if backbone_only:
        if not hasattr(model, 'backbone'):
            raise ExportRefusedError(f'{where}: {type(model).__name__} has no `backbone` to '
                                     'export with --backbone')
        return 'backbone'
    scope = cfg.get('default_scope') if cfg is not None else None
    task = TASK_OF_SCOPE.get(scope)
    if task == 'detection':
        raise ExportRefusedError(
            f'{where} builds the detector {type(model).__name__} (default_scope mmdet), which '
            'this exporter does not write: Mask R-CNN and other detectors need RoI operators '
            'and box/mask post-processing in the graph, which is the job of mmdeploy. '
            'Export its backbone with --backbone.')
    if task == 'classification' and not hasattr(model, 'head'):
        raise ExportRefusedError(f'{where}: {type(model).__name__} has no head; use --backbone')
    if task == 'segmentation' and not hasattr(model, 'encode_decode'):
        raise ExportRefusedError(f'{where}: {type(model).__name__} is not an mmseg '
                                 'EncoderDecoder; use --backbone')
    if task not in ('classification', 'segmentation'):
        raise ExportRefusedError(f'{where}: default_scope {scope!r} is not one of mmpretrain '
                                 '(classifier) or mmseg (segmentor)')
    return task


def wrap_for_export(model: nn.Module, task: str) -> RawImageModel:
    """The :class:`RawImageModel` of ``task`` (see :data:`EXPORT_OUTPUTS`) around ``model``, in
    eval mode on the CPU."""
    model.cpu()
    model.eval()
    if task == 'classification':
        wrapped: RawImageModel = ClassifierForExport(model)
    elif task == 'segmentation':
        wrapped = SegmentorForExport(model)
    elif task == 'backbone':
        wrapped = BackboneForExport(model.backbone, getattr(model, 'data_preprocessor', None))
    else:
        raise ExportRefusedError(f'task {task!r} is not one of {sorted(EXPORT_OUTPUTS)}')
    wrapped.eval()
    return wrapped


def example_images(shape: Sequence[int], seed: int = 0) -> torch.Tensor:
    """Uniform 0-255 float images of (B, H, W) = ``shape``, (B, 3, H, W), from a fixed seed."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape[0], 3, shape[1], shape[2], generator=generator) * 255


def export_onnx(module: nn.Module,
                path: str,
                example_shape: Sequence[int],
                dynamic: bool = True,
                output_names: Optional[Sequence[str]] = None,
                metadata: Optional[Dict[str, str]] = None) -> float:
    """Write ``module`` (one (B, 3, H, W) input) to the ONNX file ``path``; returns seconds.

    Args:
        module: the model, e.g. a :class:`RawImageModel`; put in eval mode. What is exported is
            :func:`exportable_copy` of it (``module`` itself is left unchanged).
        path: the ``.onnx`` file, written complete or not at all (a temporary name, renamed).
        example_shape: (B, H, W) of the example input. For a dynamic graph use B >= 2 and
            H != W: the exporter specialises sizes of 0 or 1 and may tie equal sizes together.
        dynamic: batch, height and width dynamic (``Dim.AUTO``); fixed to ``example_shape``
            otherwise.
        output_names: names of the graph's outputs (default: ``module.output_names`` if set).
        metadata: string key/values stored in the file's ``metadata_props``.
    """
    from torch.export import Dim

    module.eval()  # not chained: some backbones' train() returns None
    module = exportable_copy(module)
    names = list(output_names or getattr(module, 'output_names', None) or ['output'])
    inputs = (example_images(example_shape), )
    dynamic_shapes = ({0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO}, ) if dynamic else None
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    start = time.perf_counter()
    with torch.no_grad():
        program = torch.onnx.export(module, inputs, dynamo=True, dynamic_shapes=dynamic_shapes,
                                    input_names=[INPUT_NAME], output_names=names, verbose=False)
    if metadata:
        program.model.metadata_props.update({k: str(v) for k, v in metadata.items()})
    partial = osp.join(folder, f'.{osp.basename(path)}.partial')
    try:
        program.save(partial)
        os.replace(partial, path)
    finally:
        if osp.exists(partial):
            os.remove(partial)
    return time.perf_counter() - start


def input_channel_order(model: nn.Module) -> str:
    """``'RGB'`` when the model's data preprocessor converts OpenMMLab's BGR images to RGB
    (``to_rgb`` of mmpretrain, ``bgr_to_rgb`` of mmseg and mmdet, as in every mmsola config),
    ``'BGR'`` (as loaded) otherwise: the order the exported graph takes."""
    preprocessor = getattr(model, 'data_preprocessor', None)
    converts = any(getattr(preprocessor, name, False)
                   for name in ('to_rgb', 'channel_conversion', '_channel_conversion'))
    return 'RGB' if converts else 'BGR'


def export_metadata(model: nn.Module, task: str, dynamic: bool,
                    shape: Optional[Sequence[int]] = None) -> Dict[str, str]:
    """What a user of the file needs to know, as ``metadata_props`` strings: the task, the
    outputs, the input contract (channel order, the normalisation inside the graph), the
    config and the class names when known."""
    preprocessor = getattr(model, 'data_preprocessor', None)
    if preprocessor is not None and getattr(preprocessor, '_enable_normalize', False):
        mean = [round(float(v), 4) for v in preprocessor.mean.flatten()]
        std = [round(float(v), 4) for v in preprocessor.std.flatten()]
        normalisation = f'(image - {mean}) / {std}, inside the graph'
    else:
        normalisation = 'none (the config normalises nothing)'
    meta = dict(
        mmsola_task=task,
        outputs=EXPORT_OUTPUTS[task],
        input=(f'{INPUT_NAME}: float32 (B, 3, H, W), values 0-255, '
               f'{input_channel_order(model)}'),
        normalisation=normalisation,
        input_shape=('dynamic (B, 3, H, W)' if dynamic else
                     '{}x3x{}x{}'.format(*shape) if shape else 'fixed'),
    )
    cfg = getattr(model, 'cfg', None)
    if cfg is not None and cfg.filename:
        meta['config'] = osp.basename(cfg.filename)
    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    if classes:
        meta['classes'] = ','.join(map(str, classes))
    return meta


def create_session(path: str, threads: Optional[int] = None, spinning: bool = True):
    """An ONNX Runtime CPU session of ``path`` with ``threads`` intra-op threads (default:
    torch's) and one inter-op thread; ``spinning=False`` stops idle pool threads from spinning
    after a run (so that they do not slow whatever runs next, as in an interleaved benchmark).

    Raises:
        ImportError: naming the ``deploy`` extra when onnxruntime is not installed.
        FileNotFoundError: naming ``path`` when it does not exist.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError('ONNX Runtime is not installed: pip install -r requirements/deploy.txt '
                          "(or pip install 'mmsola[deploy]')") from None
    if not osp.isfile(path):
        raise FileNotFoundError(f'ONNX file {path} does not exist')
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


@dataclass
class VerifiedShape:
    """One comparison of ONNX Runtime with PyTorch at a (B, H, W) input shape."""
    shape: Tuple[int, int, int]
    #: output name -> maximum absolute difference (inf when the shapes differ).
    max_abs_diff: Dict[str, float] = field(default_factory=dict)
    #: output name -> shape of the PyTorch output.
    output_shapes: Dict[str, Tuple[int, ...]] = field(default_factory=dict)
    #: output name -> largest absolute value of the PyTorch output (the scale of the diff).
    max_abs_value: Dict[str, float] = field(default_factory=dict)
    #: why ONNX Runtime could not run this shape, if it could not.
    error: Optional[str] = None

    def passed(self, tolerance: float) -> bool:
        """No error, and every output within ``tolerance`` (absolute)."""
        return self.error is None and all(d <= tolerance for d in self.max_abs_diff.values())

    def describe(self, tolerance: float) -> str:
        """One line: the shape, the differences and PASS/FAIL."""
        shape = '{}x3x{}x{}'.format(*self.shape)
        if self.error is not None:
            return f'{shape}: FAIL, ONNX Runtime error: {self.error}'
        diffs = ', '.join(f'{name} {tuple(self.output_shapes[name])} max |diff| {diff:.2e} '
                          f'(max |value| {self.max_abs_value[name]:.3g})'
                          for name, diff in self.max_abs_diff.items())
        return f"{shape}: {diffs}: {'PASS' if self.passed(tolerance) else 'FAIL'}"


def verify_onnx(module: nn.Module, path: str,
                shapes: Sequence[Sequence[int]] = DEFAULT_VERIFY_SHAPES,
                threads: Optional[int] = None, seed: int = 0) -> List[VerifiedShape]:
    """Run ``module`` (PyTorch) and the ONNX file ``path`` (ONNX Runtime) on the same random
    0-255 images at each (B, H, W) of ``shapes``; compare output by output.

    A shape that ONNX Runtime refuses (a graph specialised to another size) is reported with
    its error rather than raised, so that every shape gets its line.
    """
    session = create_session(path, threads)
    output_names = [output.name for output in session.get_outputs()]
    module.eval()
    results = []
    for index, shape in enumerate(shapes):
        images = example_images(shape, seed + index)
        result = VerifiedShape(shape=tuple(int(v) for v in shape))
        with torch.no_grad():
            expected = module(images)
        expected = expected if isinstance(expected, (tuple, list)) else (expected, )
        try:
            actual = session.run(None, {INPUT_NAME: images.numpy()})
        except Exception as error:  # ONNX Runtime raises its own exception types
            result.error = str(error).splitlines()[0][:300]
            results.append(result)
            continue
        for name, torch_out, ort_out in zip(output_names, expected, actual):
            torch_out = torch_out.detach().float().numpy()
            result.output_shapes[name] = tuple(torch_out.shape)
            result.max_abs_value[name] = float(np.abs(torch_out).max())
            result.max_abs_diff[name] = (float(np.abs(torch_out - ort_out).max())
                                         if torch_out.shape == ort_out.shape else float('inf'))
        results.append(result)
    return results
