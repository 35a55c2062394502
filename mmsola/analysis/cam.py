"""EigenCAM: where one backbone output's activations vary most, for any mmsola config.

No gradient and no class: a backbone output, (C, h, w) per image, is read as h * w points in C
dimensions, each centred point projected on the first principal component. :func:`run_cam` hooks
the data preprocessor and backbone while the task's own inference API runs, and draws with the
task's visualizer and ``Visualizer.draw_featmap`` (``tools/visualization/vis_cam.py``).
"""
import copy
import importlib
import os.path as osp
from datetime import datetime
from typing import Callable, List, Optional, Tuple

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement
from mmengine.visualization import Visualizer

from mmsola.apis import init_model

from .files import list_images

_EPS = 1e-12


def principal_projection(features: torch.Tensor) -> torch.Tensor:
    """Projection of every position on the first principal component: (B, C, h, w) -> (B, h, w).

    Per image, the centred (h * w, C) activations are projected on their first right-singular
    vector, whose sign is arbitrary (``v`` or ``-v`` by LAPACK build); it is fixed so that the
    projection correlates positively with each position's mean absolute activation (zero
    correlation keeps it): high values mark strong activations. Not clamped, resized or scaled.
    """
    if features.dim() != 4:
        raise ValueError(f'features must be (B, C, h, w), got shape {tuple(features.shape)}')
    if not torch.isfinite(features).all():
        raise ValueError('features contain NaN or inf; EigenCAM needs finite activations')
    batch, _, height, width = features.shape
    points = features.detach().float().flatten(2).transpose(1, 2)  # (B, h*w, C)
    centred = points - points.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    projection = torch.einsum('bnc,bc->bn', centred, vh[:, 0])  # (B, h*w)
    magnitude = points.abs().mean(dim=2)
    agreement = ((projection - projection.mean(dim=1, keepdim=True)) *
                 (magnitude - magnitude.mean(dim=1, keepdim=True))).sum(dim=1)
    sign = torch.where(agreement < 0, -1.0, 1.0).to(projection.dtype)
    return (projection * sign[:, None]).reshape(batch, height, width)


def eigen_cam(features: torch.Tensor, out_size: Tuple[int, int]) -> torch.Tensor:
    """(B, C, h, w) backbone output -> (B, H, W) EigenCAM maps in [0, 1], (H, W) = ``out_size``.

    :func:`principal_projection` with negatives clamped to 0, bilinearly upsampled and min-max
    scaled per image; a map without variation (e.g. a 1 x 1 output) is all zeros.
    """
    maps = principal_projection(features).clamp_min(0)[:, None]
    maps = F.interpolate(maps, size=tuple(out_size), mode='bilinear', align_corners=False)[:, 0]
    low = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(span > _EPS, (maps - low) / span.clamp_min(_EPS), torch.zeros_like(maps))


def _task_inference(model: torch.nn.Module, device: str) -> Callable[[str], BaseDataElement]:
    """The library's single-image inference for the model's task: image path -> data sample."""
    if model.cfg.default_scope == 'mmdet':
        from mmdet.apis import inference_detector
        return lambda path: inference_detector(model, path)
    if model.cfg.default_scope == 'mmseg':
        from mmseg.apis import inference_model
        return lambda path: inference_model(model, path)
    from mmpretrain.apis import ImageClassificationInferencer
    model._config = model.cfg  # where mmpretrain's get_model keeps the config
    inferencer = ImageClassificationInferencer(model, pretrained=False, device=device)
    return lambda path: inferencer(path, return_datasamples=True)[0]


def _task_visualizer(model: torch.nn.Module) -> Visualizer:
    """The config's visualizer without storage backends, given the checkpoint's classes/palette,
    else the test dataset class's ``METAINFO`` and the config's ``metainfo`` (as ``get_model``)."""
    registry = importlib.import_module(f'{model.cfg.default_scope}.registry')
    dataset = model.cfg.test_dataloader.dataset
    while 'dataset' in dataset:  # RepeatDataset and other wrappers
        dataset = dataset.dataset
    meta = getattr(model, 'dataset_meta', None) or {
        **copy.deepcopy(getattr(registry.DATASETS.get(dataset.type), 'METAINFO', {})),
        **(dataset.get('metainfo') or {})}
    visualizer = registry.VISUALIZERS.build(
        dict(model.cfg.visualizer, vis_backends=None, name=f'cam-{datetime.now().timestamp()}'))
    visualizer.dataset_meta = meta
    return visualizer


def _infer_with_hooks(model: torch.nn.Module, infer: Callable, path: str) -> dict:
    """``infer(path)`` as a dict: ``prediction``; ``fed``, the test pipeline's (C, h, w) image
    (BGR as loaded, unpadded); ``batch``, the (1, C, H, W) padded input; ``outputs`` on it."""
    seen = {}

    def keep_input(module, args, output):
        seen.setdefault('fed', args[0]['inputs'][0])
        seen.setdefault('batch', output['inputs'])

    def keep_outputs(module, args, output):
        if 'outputs' not in seen and args[0].shape == seen['batch'].shape:
            seen['outputs'] = output

    handles = [model.data_preprocessor.register_forward_hook(keep_input),
               model.backbone.register_forward_hook(keep_outputs)]
    try:
        seen['prediction'] = infer(path)
    finally:
        for handle in handles:
            handle.remove()
    if 'outputs' not in seen:  # sliding-window inference: the backbone saw crops only
        with torch.no_grad():
            seen['outputs'] = model.backbone(seen['batch'])
    if not isinstance(seen['outputs'], (tuple, list)):
        seen['outputs'] = (seen['outputs'], )
    return seen


def run_cam(config: str, images: str, checkpoint: Optional[str] = None, stage: int = -1,
            out_dir: Optional[str] = None, cfg_options: Optional[dict] = None,
            device: str = 'cpu', alpha: float = 0.5) -> List[str]:
    """EigenCAM pictures of an image or a folder's images (recursively); returns their paths.

    Each shows the prediction on the image next to the map of backbone output ``stage`` (index
    into ``out_indices``) over the image as the network saw it; ``DIR/a.jpg`` gives
    ``out_dir/a_cam.png`` (default ``work_dirs/cam/<config name>``).

    Raises:
        FileNotFoundError: naming a missing image, config or checkpoint, or an imageless folder.
        ValueError: naming an unreadable image, an unsupported ``default_scope`` or a model
            without a ``backbone``.
        IndexError: naming ``stage`` when the backbone has no such output.
    """
    paths = list_images(images)
    model = init_model(config, checkpoint, device=device, cfg_options=cfg_options)
    if getattr(model, 'backbone', None) is None:
        raise ValueError(f'the model of {config} ({type(model).__name__}) has no `backbone`')
    infer, visualizer = _task_inference(model, device), _task_visualizer(model)
    out_dir = out_dir or osp.join('work_dirs', 'cam', osp.splitext(osp.basename(config))[0])
    root = images if osp.isdir(images) else (osp.dirname(images) or '.')
    written: List[str] = []
    for path in paths:
        image = mmcv.imread(path)
        if image is None:
            raise ValueError(f'cannot read image {path}: not a decodable image file')
        seen = _infer_with_hooks(model, infer, path)
        count = len(seen['outputs'])
        if not -count <= stage < count:
            raise IndexError(f'stage {stage} is out of range: the backbone returns {count} '
                             f'output(s), so stages {-count}..{count - 1} are valid; expose '
                             'more with --cfg-options model.backbone.out_indices=...')
        height, width = seen['fed'].shape[-2:]  # the batch is padded at the bottom and right
        cam = eigen_cam(seen['outputs'][stage], seen['batch'].shape[-2:])[:, :height, :width]
        fed = seen['fed'].flip(0).permute(1, 2, 0).clamp(0, 255).byte().cpu().numpy()
        heat = Visualizer.draw_featmap(cam, np.ascontiguousarray(fed), alpha=alpha)
        name = osp.splitext(osp.relpath(path, root))[0]
        if hasattr(visualizer, 'visualize_cls'):  # mmpretrain's visualizer has no add_datasample
            visualizer.visualize_cls(image[..., ::-1], seen['prediction'], draw_gt=False)
        else:
            visualizer.add_datasample(name, image[..., ::-1], seen['prediction'], draw_gt=False)
        drawn = visualizer.get_image()
        heat = mmcv.imresize(heat, (round(heat.shape[1] * len(drawn) / len(heat)), len(drawn)))
        out_file = osp.join(out_dir, f'{name}_cam.png')
        if out_file in written:  # a.png next to a.jpg
            out_file = osp.join(out_dir, f'{name}_{osp.splitext(path)[1][1:]}_cam.png')
        mmcv.imwrite(np.concatenate([drawn, heat], axis=1)[..., ::-1], out_file)
        written.append(out_file)
    return written
