"""Effective receptive field (ERF) of intermediate features, and its radius per layer.

Definition used throughout (after Luo et al., NeurIPS 2016): for a feature map ``F`` of shape
(B, C, h, w) taken at some layer, and its centre location ``(h // 2, w // 2)``, the ERF of an
image ``x`` (C_in, H, W) is

    ERF(x)[u, v] = sum_c | d (sum_k F[k, h // 2, w // 2]) / d x[c, u, v] |,

i.e. the gradient of the *plain sum over channels* of the centre feature (not of its positive
part, so that no channel is dropped by a ReLU-style cut) with respect to the input, in absolute
value, summed over input channels. The ERF of a layer is the mean of these maps over N images.
Images are independent in eval mode, so one backward pass of a batch gives every image's map.

The model is run in **eval mode** (BatchNorm uses its running statistics, dropout and drop path
are off), which is the function the network computes at inference; its previous mode is restored
afterwards.

The ERF radius (:func:`erf_radius`) is the half-width ``r`` of the smallest centred square
(Chebyshev distance; or disc, Euclidean) around the map's centre of mass that holds a given share
of the total gradient mass. A square of half-width ``r`` covers ``2r + 1`` pixels per side.
"""
import contextlib
import datetime
import json
import logging
import math
import os
import os.path as osp
import time
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union)

import torch
import torch.nn as nn

__all__ = [
    'compute_erf', 'erf_radius', 'erf_area_share', 'erf_stats', 'sola_layer_names',
    'sola_feature_format', 'describe_sola_layers', 'plot_erf_map', 'plot_erf_grid',
    'plot_erf_radius', 'fit_sqrt_depth', 'build_backbone_from_config', 'make_erf_images',
    'analyse_backbone_erf', 'run_erf_analysis'
]

FeatureFormat = Union[str, Mapping[str, str], Callable[[str, nn.Module], str]]
FORMATS = ('NCHW', 'NHWC')
SHAPES = ('square', 'disc')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


class _StopForward(Exception):
    """Raised by the last capturing hook: nothing after it is needed."""


def _valid_layer_names(model: nn.Module) -> List[str]:
    names = [name for name, _ in model.named_modules() if name]
    return names if len(names) <= 60 else [n for n in names if n.count('.') <= 3]


def _check_layer_names(model: nn.Module, layer_names: Sequence[str]) -> Dict[str, nn.Module]:
    modules = dict(model.named_modules())
    unknown = [name for name in layer_names if not name or name not in modules]
    if unknown:
        raise ValueError(f'unknown layer name(s) {unknown} in layer_names for '
                         f'{type(model).__name__}; valid names include: '
                         f'{", ".join(_valid_layer_names(model))}')
    return {name: modules[name] for name in layer_names}


def _resolve_format(feature_format: FeatureFormat, name: str, module: nn.Module) -> str:
    if callable(feature_format):
        fmt = feature_format(name, module)
    elif isinstance(feature_format, Mapping):
        fmt = feature_format.get(name, 'NCHW')
    else:
        fmt = feature_format
    if fmt not in FORMATS:
        raise ValueError(f'feature_format of layer {name!r} must be one of {FORMATS}, got {fmt!r}')
    return fmt


def feature_centre(shape: Sequence[int], fmt: str) -> Tuple[int, int]:
    """Centre location ``(h // 2, w // 2)`` of a (B, C, h, w) or (B, h, w, C) feature map."""
    height, width = (shape[2], shape[3]) if fmt == 'NCHW' else (shape[1], shape[2])
    return height // 2, width // 2


def _centre_activation(feature: torch.Tensor, fmt: str, name: str) -> torch.Tensor:
    """Sum over batch and channels of the centre feature: a scalar."""
    if not isinstance(feature, torch.Tensor) or feature.dim() != 4:
        what = tuple(feature.shape) if isinstance(feature, torch.Tensor) else type(feature).__name__
        raise ValueError(f'layer {name!r} must output a 4-D feature map ({fmt}), got {what}')
    row, col = feature_centre(feature.shape, fmt)
    centre = feature[:, :, row, col] if fmt == 'NCHW' else feature[:, row, col, :]
    return centre.sum()


def compute_erf(model: nn.Module,
                layer_names: Union[str, Sequence[str]],
                images: torch.Tensor,
                feature_format: FeatureFormat = 'NCHW',
                batch_size: Optional[int] = None) -> Dict[str, torch.Tensor]:
    """ERF of the centre feature of each named layer, averaged over images.

    Outputs are captured with forward hooks (the first call of each module), so any
    ``nn.Module`` works; the forward pass stops once every requested layer has run.

    Args:
        model: the feature extractor; run in eval mode, its mode restored afterwards.
        layer_names: names of submodules as in ``model.named_modules()``, e.g.
            ``'stages.2.blocks.1'``.
        images: (N, C_in, H, W) inputs, already normalised as the model expects.
        feature_format: layout of the layers' outputs: ``'NCHW'`` (B, C, h, w) or ``'NHWC'``
            (B, h, w, C); one for all, a ``{name: format}`` mapping, or a callable
            ``(name, module) -> format`` such as :func:`sola_feature_format`.
        batch_size: images per forward/backward pass (all at once when ``None``).

    Returns:
        dict: layer name -> ERF map, a float32 (H, W) tensor (mean over the N images of the
        absolute input gradient summed over input channels).
    """
    if isinstance(layer_names, str):
        layer_names = [layer_names]
    layer_names = list(dict.fromkeys(layer_names))
    if not layer_names:
        raise ValueError('layer_names is empty')
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError('images must be an (N, C, H, W) tensor, got '
                         f'{getattr(images, "shape", type(images).__name__)}')
    if batch_size is not None and batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    modules = _check_layer_names(model, layer_names)
    formats = {name: _resolve_format(feature_format, name, m) for name, m in modules.items()}

    num_images, _, height, width = images.shape
    sums = {name: torch.zeros(height, width, dtype=torch.float64) for name in layer_names}
    was_training = model.training
    # Parameter gradients are never needed: switching them off also spares the memory autograd
    # would keep for them.
    param_flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    try:
        for p, _ in param_flags:
            p.requires_grad_(False)
        for chunk in images.split(batch_size or num_images):
            chunk = chunk.detach().float().clone().requires_grad_(True)
            captured: Dict[str, torch.Tensor] = {}

            def make_hook(name: str):

                def hook(module, inputs, output):
                    if name not in captured:
                        captured[name] = output
                        if len(captured) == len(layer_names):
                            raise _StopForward

                return hook

            handles = [modules[name].register_forward_hook(make_hook(name))
                       for name in layer_names]
            try:
                with torch.enable_grad():
                    model(chunk)
            except _StopForward:
                pass
            finally:
                for handle in handles:
                    handle.remove()
            missing = [name for name in layer_names if name not in captured]
            if missing:
                raise RuntimeError(f'layer(s) {missing} did not run in the forward pass of '
                                   f'{type(model).__name__}')
            order = [name for name in captured]  # forward order
            for index, name in enumerate(order):
                target = _centre_activation(captured[name], formats[name], name)
                if not target.requires_grad:
                    raise RuntimeError(f'the output of layer {name!r} does not depend on the '
                                       'input image')
                grad, = torch.autograd.grad(target, chunk, retain_graph=index < len(order) - 1)
                sums[name] += grad.abs().sum(dim=1).sum(dim=0).double()
            captured.clear()  # frees the graphs before the next chunk
    finally:
        for p, flag in param_flags:
            p.requires_grad_(flag)
        model.train(was_training)
    return {name: (total / num_images).float() for name, total in sums.items()}


# ----------------------------------------------------------------------------- radius


def _check_map(erf_map: torch.Tensor) -> torch.Tensor:
    if not isinstance(erf_map, torch.Tensor) or erf_map.dim() != 2:
        raise ValueError('erf_map must be an (H, W) tensor, got '
                         f'{getattr(erf_map, "shape", type(erf_map).__name__)}')
    erf_map = erf_map.detach().double()
    if (erf_map < 0).any():
        raise ValueError('erf_map must be non-negative (absolute gradients)')
    if not erf_map.sum() > 0:
        raise ValueError('erf_map has no gradient mass (all zeros)')
    return erf_map


def _check_mass(mass: float) -> None:
    if not 0 < mass <= 1:
        raise ValueError(f'mass must be in (0, 1], got {mass}')


def erf_centroid(erf_map: torch.Tensor) -> Tuple[float, float]:
    """Centre of mass (row, col) of an (H, W) ERF map, in pixel coordinates."""
    erf_map = _check_map(erf_map)
    rows = torch.arange(erf_map.shape[0], dtype=torch.float64)
    cols = torch.arange(erf_map.shape[1], dtype=torch.float64)
    total = erf_map.sum()
    return (float((erf_map.sum(1) * rows).sum() / total),
            float((erf_map.sum(0) * cols).sum() / total))


def _distances(shape: Tuple[int, int], centre: Tuple[float, float], kind: str) -> torch.Tensor:
    if kind not in SHAPES:
        raise ValueError(f'shape must be one of {SHAPES}, got {kind!r}')
    rows = torch.arange(shape[0], dtype=torch.float64)[:, None] - centre[0]
    cols = torch.arange(shape[1], dtype=torch.float64)[None, :] - centre[1]
    if kind == 'square':
        return torch.maximum(rows.abs(), cols.abs())
    return torch.sqrt(rows**2 + cols**2)


def erf_radius(erf_map: torch.Tensor,
               mass: float = 0.5,
               centre: Optional[Tuple[float, float]] = None,
               shape: str = 'square') -> float:
    """Smallest radius of a centred square (or disc) holding ``mass`` of the gradient mass.

    A pixel belongs to the square of half-width ``r`` when ``max(|dy|, |dx|) <= r`` (to the
    disc when ``sqrt(dy^2 + dx^2) <= r``), distances measured from ``centre`` to pixel centres.
    The radius is the distance of the pixel at which the cumulative mass first reaches the share,
    so a delta gives 0 and a centred k x k square of uniform mass gives about (k - 1) / 2.

    Args:
        erf_map: (H, W) non-negative map.
        mass: share of the total mass, in (0, 1].
        centre: (row, col) in pixels; ``None`` takes the map's centre of mass. For stride-s
            features the centre feature's receptive field lies up to s / 2 pixels off the image
            centre; measuring around the centre of mass keeps that offset out of the radius.
        shape: ``'square'`` or ``'disc'``.

    Returns:
        float: the radius in input pixels.
    """
    _check_mass(mass)
    erf_map = _check_map(erf_map)
    if centre is None:
        centre = erf_centroid(erf_map)
    distance = _distances(tuple(erf_map.shape), centre, shape).flatten()
    order = torch.argsort(distance, stable=True)
    cumulative = torch.cumsum(erf_map.flatten()[order], 0)
    total = cumulative[-1]
    reached = torch.nonzero(cumulative >= mass * total - 1e-9 * total)[0, 0]
    return float(distance[order][reached])


def erf_area_share(erf_map: torch.Tensor, mass: float = 0.5) -> float:
    """Smallest share of the pixels (any shape, strongest first) holding ``mass`` of the mass.

    Shape-free complement of :func:`erf_radius`: about ``1 / (H W)`` for a delta, ``mass`` for
    a uniform map.
    """
    _check_mass(mass)
    erf_map = _check_map(erf_map)
    values = torch.sort(erf_map.flatten(), descending=True).values
    cumulative = torch.cumsum(values, 0)
    total = cumulative[-1]
    count = int(torch.nonzero(cumulative >= mass * total - 1e-9 * total)[0, 0]) + 1
    return count / values.numel()


def erf_stats(erf_map: torch.Tensor,
              masses: Sequence[float] = (0.5, 0.9),
              shape: str = 'square') -> Dict[str, Any]:
    """Radius, area shares and centre of one ERF map, for each mass share.

    Returns:
        dict: ``centre`` (row, col) of mass; ``radius``, ``area_share`` (strongest pixels) and
        ``square_area_share`` (pixels inside the radius / all pixels), each ``{str(mass): value}``.
    """
    centre = erf_centroid(erf_map)
    height, width = erf_map.shape
    distance = _distances((height, width), centre, shape)
    stats: Dict[str, Any] = dict(centre=[round(centre[0], 2), round(centre[1], 2)], radius={},
                                 area_share={}, square_area_share={})
    for mass in masses:
        radius = erf_radius(erf_map, mass, centre, shape)
        key = f'{mass:g}'
        stats['radius'][key] = round(radius, 3)
        stats['area_share'][key] = round(erf_area_share(erf_map, mass), 5)
        stats['square_area_share'][key] = round(
            float((distance <= radius + 1e-9).double().mean()), 5)
    return stats


def fit_sqrt_depth(depths: Sequence[float], radii: Sequence[float]) -> float:
    """Least-squares ``a`` of ``radius = a * sqrt(depth)`` (a curve through the origin)."""
    if len(depths) != len(radii) or not depths:
        raise ValueError('fit_sqrt_depth needs as many radii as depths, at least one')
    num = sum(math.sqrt(d) * r for d, r in zip(depths, radii))
    den = sum(d for d in depths)
    if den <= 0:
        raise ValueError('fit_sqrt_depth needs a positive depth')
    return num / den


# ------------------------------------------------------------------ SoLA-Vision helpers


def sola_layer_names(backbone: nn.Module, which: str = 'blocks') -> List[str]:
    """``'blocks'``: every block in depth order (``stages.i.blocks.j``); ``'stages'``: the
    output of every stage (``stages.i``)."""
    stages = getattr(backbone, 'stages', None)
    if stages is None:
        raise ValueError(f'{type(backbone).__name__} has no `stages`; give layer names')
    if which == 'stages':
        return [f'stages.{i}' for i in range(len(stages))]
    if which == 'blocks':
        return [f'stages.{i}.blocks.{j}' for i, stage in enumerate(stages)
                for j in range(len(stage.blocks))]
    raise ValueError(f"which must be 'blocks' or 'stages', got {which!r}")


def sola_feature_format(name: str, module: nn.Module) -> str:
    """Output layout of a SoLAVision submodule: the stem, convolutions and BatchNorms give
    (B, C, h, w); everything else (stages, blocks, mixers, FFNs, LayerNorms) is channels-last
    (B, h, w, C)."""
    from mmcv.cnn import ConvModule
    from torch.nn.modules.batchnorm import _BatchNorm
    if name == 'stem' or name.startswith('stem.') or isinstance(
            module, (nn.Conv2d, ConvModule, _BatchNorm)):
        return 'NCHW'
    return 'NHWC'


def describe_sola_layers(backbone: nn.Module, layer_names: Sequence[str]) -> List[Dict[str, Any]]:
    """Depth, stage and mixer letter of each layer name of a SoLAVision-like backbone.

    Depth counts blocks: the stem is 0, block ``j`` of stage ``i`` is ``sum(depths[:i]) + j + 1``
    and a stage's output has the depth of its last block. Names outside these get ``None``.
    Returns one dict per name with ``name``, ``depth``, ``stage`` (0-based) and ``letter``.
    """
    layout = getattr(backbone, 'layout', None)
    stages = getattr(backbone, 'stages', [])
    depths = [len(stage.blocks) for stage in stages] if stages else []
    described = []
    for name in layer_names:
        parts = name.split('.')
        info: Dict[str, Any] = dict(name=name, depth=None, stage=None, letter=None)
        if parts[0] == 'stem':
            info['depth'] = 0
        elif parts[0] == 'stages' and len(parts) > 1 and parts[1].isdigit() and \
                int(parts[1]) < len(depths):
            stage = int(parts[1])
            info['stage'] = stage
            block = None
            if len(parts) == 2:
                block = depths[stage] - 1
            elif len(parts) > 3 and parts[2] == 'blocks' and parts[3].isdigit():
                block = int(parts[3])
            if block is not None:
                info['depth'] = sum(depths[:stage]) + block + 1
                if layout is not None:
                    info['letter'] = layout[stage][block]
                else:
                    mixer = getattr(stages[stage].blocks[block], 'mixer', None)
                    if mixer is not None:
                        info['letter'] = 'L' if getattr(mixer, 'is_linear', True) else 'S'
            else:
                info['depth'] = sum(depths[:stage])
        described.append(info)
    return described


# ------------------------------------------------------------------------- plotting


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _log_map(erf_map: torch.Tensor, floor: float) -> torch.Tensor:
    peak = erf_map.max()
    normalised = erf_map / peak if peak > 0 else erf_map
    return torch.log10(normalised.clamp_min(floor))


def _draw_erf(ax, erf_map: torch.Tensor, title: str, radii: Optional[Mapping[str, float]],
              centre: Optional[Sequence[float]], floor: float):
    from matplotlib.patches import Rectangle
    image = ax.imshow(_log_map(erf_map, floor).numpy(), cmap='magma', vmin=math.log10(floor),
                      vmax=0, interpolation='antialiased')
    if radii and centre is not None:
        for (key, radius), style in zip(sorted(radii.items()), ('-', '--', ':')):
            ax.add_patch(Rectangle((centre[1] - radius - 0.5, centre[0] - radius - 0.5),
                                   2 * radius + 1, 2 * radius + 1, fill=False, lw=0.9,
                                   ls=style, ec='cyan'))
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def layer_title(info: Mapping[str, Any]) -> str:
    """``'stages.2.blocks.2 (S)'``: the layer name and its mixer letter, if any."""
    letter = info.get('letter')
    return f"{info['name']} ({letter})" if letter else info['name']


def plot_erf_map(erf_map: torch.Tensor,
                 path: str,
                 title: str,
                 radii: Optional[Mapping[str, float]] = None,
                 centre: Optional[Sequence[float]] = None,
                 floor: float = 1e-3) -> None:
    """Save one ERF heat map: log10 of the map normalised to its peak, clipped at ``floor``.

    Args:
        erf_map: (H, W) map.
        path: PNG file to write.
        title: axes title (layer name and mixer letter).
        radii: ``{mass: radius}``, drawn as squares around ``centre`` (row, col).
        floor: smallest shown share of the peak (``1e-3``: three decades).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.3, 3.0), dpi=80)
    image = _draw_erf(ax, erf_map, title, radii, centre, floor)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label='log10(grad / peak)')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_erf_grid(erf_maps: Mapping[str, torch.Tensor],
                  path: str,
                  titles: Optional[Mapping[str, str]] = None,
                  stats: Optional[Mapping[str, Mapping[str, Any]]] = None,
                  suptitle: Optional[str] = None,
                  floor: float = 1e-3,
                  columns: int = 6) -> None:
    """Save the ERF heat maps of several layers in one grid, in the mapping's order."""
    plt = _pyplot()
    names = list(erf_maps)
    columns = max(1, min(columns, len(names)))
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.0 * rows + 0.4), dpi=72,
                             squeeze=False)
    image = None
    for ax, name in zip(axes.flat, names):
        layer_stats = (stats or {}).get(name, {})
        image = _draw_erf(ax, erf_maps[name], (titles or {}).get(name, name),
                          layer_stats.get('radius'), layer_stats.get('centre'), floor)
    for ax in list(axes.flat)[len(names):]:
        ax.axis('off')
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.92, 1))
    if image is not None:
        colorbar = fig.colorbar(image, cax=fig.add_axes((0.93, 0.12, 0.012, 0.76)))
        colorbar.set_label('log10(grad / peak)', fontsize=8)
        colorbar.ax.tick_params(labelsize=7)
    fig.savefig(path)
    plt.close(fig)


def _linear_prefix(layers: Sequence[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """Layers with a linear ('L'/'E') mixer and no softmax layer below them."""
    prefix = []
    for layer in sorted((l for l in layers if l.get('depth') is not None),
                        key=lambda l: l['depth']):
        if layer.get('letter') == 'S':
            break
        if layer.get('letter') in ('L', 'E'):
            prefix.append(layer)
    return prefix


def plot_erf_radius(runs: Sequence[Mapping[str, Any]],
                    path: str,
                    masses: Sequence[float] = (0.5, 0.9),
                    image_size: Optional[Sequence[int]] = None,
                    stage_bounds: Sequence[int] = (),
                    title: Optional[str] = None) -> Dict[str, Optional[float]]:
    """Plot ERF radius against depth, one panel per mass share, one curve per run.

    Args:
        runs: each a dict with ``label`` and ``layers``: a list of dicts with ``depth``,
            ``letter`` and ``radius`` (``{str(mass): radius}``), as :func:`run_erf_analysis`
            writes them. Layers without a depth are left out.
        path: PNG file to write.
        masses: one panel per share.
        image_size: (H, W); half the smaller side is drawn as the largest centred radius.
        stage_bounds: depths after which a new stage starts (dotted vertical lines).

    Returns:
        dict: ``{str(mass): a}`` of the reference ``a * sqrt(depth)`` fitted to the layers that
        are linear with no softmax layer below them (pooled over runs), ``None`` without any.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(masses), figsize=(5.2 * len(masses), 3.9), dpi=80,
                             squeeze=False)
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    fits: Dict[str, Optional[float]] = {}
    for ax, mass in zip(axes[0], masses):
        key = f'{mass:g}'
        max_depth = 1
        softmax_labelled = False
        for index, run in enumerate(runs):
            layers = sorted((l for l in run['layers'] if l.get('depth') is not None),
                            key=lambda l: l['depth'])
            if not layers:
                continue
            depths = [l['depth'] for l in layers]
            radii = [l['radius'][key] for l in layers]
            max_depth = max(max_depth, max(depths))
            colour = colours[index % len(colours)]
            # later runs are drawn thinner and smaller, so that coinciding curves stay visible
            shrink = 0.75**index
            ax.plot(depths, radii, '-o', color=colour, ms=6 * shrink, lw=2.2 * shrink,
                    label=run['label'])
            soft = [(d, r) for d, r, l in zip(depths, radii, layers) if l.get('letter') == 'S']
            if soft:
                ax.scatter(*zip(*soft), marker='*', s=160 * shrink**2, facecolor=colour,
                           edgecolor='black', lw=0.6, zorder=3 + index,
                           label=None if softmax_labelled else 'S (global softmax) layer')
                softmax_labelled = True
        reference = [l for run in runs for l in _linear_prefix(run['layers'])]
        fits[key] = None
        if reference:
            fits[key] = fit_sqrt_depth([l['depth'] for l in reference],
                                       [l['radius'][key] for l in reference])
            grid = torch.linspace(0, max_depth, 100)
            ax.plot(grid.numpy(), (fits[key] * grid.sqrt()).numpy(), 'k--', lw=1,
                    label=f'{fits[key]:.1f} sqrt(depth), fit to linear layers')
        for bound in stage_bounds:
            ax.axvline(bound + 0.5, color='grey', ls=':', lw=0.8)
        if image_size:
            ax.axhline(min(image_size) / 2, color='grey', ls='-.', lw=0.8)
            ax.text(0.2, min(image_size) / 2, 'half image side', fontsize=7, va='bottom',
                    color='grey')
        ax.set_xlabel('depth (block index)')
        ax.set_ylabel(f'ERF radius, {mass:.0%} of gradient mass [px]')
        ax.set_xlim(0, max_depth + 0.5)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(0, 0.93))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return fits


# --------------------------------------------------------------------- configs, images


def _model_data_preprocessor(cfg) -> dict:
    model_pre = cfg.model.get('data_preprocessor') or {}
    top_pre = cfg.get('data_preprocessor') or {}
    return dict(top_pre, **model_pre)


@contextlib.contextmanager
def _quiet_mmengine_logger():
    """Keep ``init_weights``' per-parameter INFO report (hundreds of lines) off the console."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def build_backbone_from_config(config: str,
                               cfg_options: Optional[dict] = None,
                               checkpoint: Optional[str] = None,
                               seed: Optional[int] = 0) -> Tuple[nn.Module, Any]:
    """Build the model of an mmsola config (any task) and return its backbone and the config.

    The model is built from the registry of the config's ``default_scope``. Weights: the
    backbone's own initialisation (``init_weights``, seeded with ``seed``) and then, when given,
    ``checkpoint`` through :func:`mmsola.utils.load_pretrained`, i.e. mmengine's
    ``CheckpointLoader`` with mmsola's safe loader; a full-model checkpoint (``backbone.*`` keys)
    and a backbone-only one both work, and a file with no matching key is an error.
    """
    from mmsola.engine.cli import load_config
    from mmsola.utils.checkpoint import load_pretrained

    from .model_builder import build_model_from_config

    cfg = load_config(config, cfg_options=cfg_options)
    if not isinstance(cfg.get('model'), dict) or 'backbone' not in cfg.model:
        raise ValueError(f'config {config} has no model.backbone: the ERF tool analyses the '
                         "backbone of a classifier, detector or segmentor config")
    if seed is not None:
        torch.manual_seed(seed)
    backbone = build_model_from_config(cfg).backbone
    if checkpoint is None or getattr(backbone, 'pretrained_cfg', None) is None:
        with _quiet_mmengine_logger():
            backbone.init_weights()
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'--checkpoint {checkpoint} does not exist')
        load_pretrained(backbone, checkpoint)
    return backbone.eval(), cfg


def make_erf_images(num_images: int,
                    image_size: Sequence[int],
                    data_dir: Optional[str] = None,
                    mean: Optional[Sequence[float]] = None,
                    std: Optional[Sequence[float]] = None,
                    to_rgb: bool = False,
                    seed: int = 0) -> Tuple[torch.Tensor, List[str]]:
    """Input images: uniform noise in [0, 255], or the first images (sorted paths) of
    ``data_dir`` resized to ``image_size``; then ``(x - mean) / std`` when given.

    Returns:
        tuple: (N, 3, H, W) float tensor and the list of image files (empty for noise).
    """
    height, width = image_size
    if num_images < 1:
        raise ValueError(f'num_images must be >= 1, got {num_images}')
    files: List[str] = []
    if data_dir is None:
        generator = torch.Generator().manual_seed(seed)
        images = torch.rand(num_images, 3, height, width, generator=generator) * 255
    else:
        import mmcv
        if not osp.isdir(data_dir):
            raise FileNotFoundError(f'--data-dir {data_dir} is not a directory')
        for root, _, names in os.walk(data_dir):
            files += [osp.join(root, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
        files = sorted(files)[:num_images]
        if not files:
            raise FileNotFoundError(f'--data-dir {data_dir} holds no image '
                                    f'({", ".join(IMAGE_EXTENSIONS)})')
        arrays = []
        for file in files:
            image = mmcv.imread(file, channel_order='rgb' if to_rgb else 'bgr')
            image = mmcv.imresize(image, (width, height))
            arrays.append(torch.from_numpy(image.copy()).permute(2, 0, 1).float())
        images = torch.stack(arrays)
    if mean is not None and std is not None:
        images = (images - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(
            1, -1, 1, 1)
    return images, files


def analyse_backbone_erf(backbone: nn.Module,
                         images: torch.Tensor,
                         layer_names: Sequence[str],
                         masses: Sequence[float] = (0.5, 0.9),
                         shape: str = 'square',
                         batch_size: Optional[int] = None) -> Tuple[Dict[str, torch.Tensor],
                                                                    List[Dict[str, Any]]]:
    """ERF maps of a SoLAVision-like backbone and per-layer records (name, depth, stage,
    letter, feature size and :func:`erf_stats`), in the order of ``layer_names``."""
    maps = compute_erf(backbone, layer_names, images, sola_feature_format, batch_size)
    records = []
    for info in describe_sola_layers(backbone, layer_names):
        records.append(dict(info, **erf_stats(maps[info['name']], masses, shape)))
    return maps, records


def _expand_layer_names(backbone: nn.Module, layers: Optional[Sequence[str]]) -> List[str]:
    names: List[str] = []
    for item in layers or ['blocks']:
        if item in ('blocks', 'stages'):
            names += sola_layer_names(backbone, item)
        else:
            names.append(item)
    return list(dict.fromkeys(names))


def _safe_file_name(name: str) -> str:
    return ''.join(c if c.isalnum() or c in '._-' else '_' for c in name)


def run_erf_analysis(config: str,
                     out_dir: str,
                     checkpoint: Optional[str] = None,
                     layers: Optional[Sequence[str]] = None,
                     num_images: int = 8,
                     image_size: Sequence[int] = (256, 256),
                     data_dir: Optional[str] = None,
                     cfg_options: Optional[dict] = None,
                     compare_layouts: Optional[Sequence[str]] = None,
                     checkpoints: Optional[Sequence[str]] = None,
                     masses: Sequence[float] = (0.5, 0.9),
                     shape: str = 'square',
                     batch_size: Optional[int] = 4,
                     seed: int = 0,
                     log: Callable[[str], None] = print) -> Dict[str, Any]:
    """The ERF tool: maps, radii and plots of a config's backbone, optionally per layout.

    Writes to ``out_dir``: ``erf_<layer>.png`` per layer and ``erf_grid.png`` (in a
    sub-directory per layout with ``compare_layouts``), ``erf_radius.png`` (radius vs depth, all
    runs in one figure) and ``erf.json`` (per-layer values and metadata).

    Args:
        layers: layer names, ``'blocks'`` (every block, the default) or ``'stages'``.
        compare_layouts: layouts (presets or letter strings) that override
            ``model.backbone.layout`` in turn; every run uses the same seed, so layers that the
            layouts share start from the same weights.
        checkpoints: one checkpoint per entry of ``compare_layouts`` (each layout's own trained
            weights), instead of the single ``checkpoint``.
        batch_size: images per forward/backward pass.

    Returns:
        dict: what is written to ``erf.json``.
    """
    for mass in masses:
        _check_mass(mass)
    os.makedirs(out_dir, exist_ok=True)
    started = time.time()
    if checkpoints is not None and len(checkpoints) != len(compare_layouts or []):
        raise ValueError(f'--checkpoints gives {len(checkpoints)} file(s) for '
                         f'{len(compare_layouts or [])} --compare-layouts; give one per layout')
    variants: List[Tuple[Optional[str], dict, Optional[str]]] = []
    for index, layout in enumerate(compare_layouts or [None]):
        options = dict(cfg_options or {})
        if layout is not None:
            options['model.backbone.layout'] = layout
        weights = checkpoints[index] if checkpoints is not None else checkpoint
        variants.append((layout, options, weights))

    runs = []
    meta: Dict[str, Any] = {}
    stage_bounds: List[int] = []
    for layout, options, weights in variants:
        run_started = time.time()
        backbone, cfg = build_backbone_from_config(config, options, weights, seed)
        if not meta:
            pre = _model_data_preprocessor(cfg)
            mean, std = pre.get('mean'), pre.get('std')
            to_rgb = bool(pre.get('to_rgb', pre.get('bgr_to_rgb', False)))
            images, files = make_erf_images(num_images, image_size, data_dir, mean, std, to_rgb,
                                            seed)
            meta = dict(mean=mean, std=std, to_rgb=to_rgb, files=files)
        names = _expand_layer_names(backbone, layers)
        maps, records = analyse_backbone_erf(backbone, images, names, masses, shape, batch_size)
        depths = [len(stage.blocks) for stage in getattr(backbone, 'stages', [])]
        stage_bounds = [sum(depths[:i + 1]) for i in range(len(depths) - 1)]
        layout_letters = list(getattr(backbone, 'layout', []) or [])
        label = layout or (','.join(layout_letters) if layout_letters else type(backbone).__name__)
        run_dir = osp.join(out_dir, _safe_file_name(layout)) if compare_layouts else out_dir
        os.makedirs(run_dir, exist_ok=True)
        titles = {r['name']: layer_title(r) for r in records}
        by_name = {r['name']: r for r in records}
        for name, erf_map in maps.items():
            plot_erf_map(erf_map, osp.join(run_dir, f'erf_{_safe_file_name(name)}.png'),
                         titles[name], by_name[name]['radius'], by_name[name]['centre'])
        plot_erf_grid(maps, osp.join(run_dir, 'erf_grid.png'), titles, by_name,
                      suptitle=f'ERF of {osp.basename(config)}, layout {label}')
        seconds = time.time() - run_started
        runs.append(dict(label=label, layout=layout_letters, cfg_options=options,
                         checkpoint=weights, seconds=round(seconds, 1), layers=records))
        summary = ' '.join(f"{r['radius'][f'{masses[0]:g}']:.0f}" for r in records)
        log(f'[erf] {label}: {len(records)} layers in {seconds:.1f} s; '
            f'radius at {masses[0]:.0%} mass per layer: {summary}')

    fits = plot_erf_radius(runs, osp.join(out_dir, 'erf_radius.png'), masses, image_size,
                           stage_bounds,
                           title=f'ERF radius vs depth: {osp.basename(config)}, '
                           f'{image_size[0]}x{image_size[1]}, {num_images} '
                           f'{"images" if data_dir else "noise images"}'
                           f'{", random init" if all(v[2] is None for v in variants) else ""}')
    result = dict(
        tool='tools/analysis/erf.py',
        config=config,
        checkpoint=checkpoint,
        weights=[v[2] or 'random init (init_weights, seed %d)' % seed for v in variants],
        cfg_options={k: str(v) for k, v in (cfg_options or {}).items()},
        image_size=list(image_size),
        num_images=int(images.shape[0]),
        images=data_dir if data_dir else 'uniform noise in [0, 255]',
        image_files=meta['files'],
        normalisation=dict(mean=meta['mean'], std=meta['std'], to_rgb=meta['to_rgb']),
        date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        seconds=round(time.time() - started, 1),
        mode='eval (BatchNorm running statistics, no dropout / drop path)',
        gradient_target='sum over channels of the centre feature (h // 2, w // 2); '
        '|d/dx| summed over input channels, mean over images',
        radius_definition=f'half-width of the smallest {shape} around the centre of mass '
        'holding the given share of the gradient mass, in input pixels',
        masses=list(masses),
        sqrt_fit=dict(
            model='radius = a * sqrt(depth), least squares over linear layers with no '
            'softmax layer below them, pooled over runs',
            a=fits),
        runs=[dict(run, cfg_options={k: str(v) for k, v in run['cfg_options'].items()})
              for run in runs],
    )
    with open(osp.join(out_dir, 'erf.json'), 'w') as f:
        json.dump(result, f, indent=1)
    return result
