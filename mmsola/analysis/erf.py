"""Effective receptive field (ERF) of a SoLA-Vision backbone, block by block or stage by stage.

After Luo et al. (NeurIPS 2016). A block or stage outputs a (B, h, w, C) map (the contract of
``SoLABlock`` and ``SoLAStage``); the ERF of an image ``x`` (C_in, H, W) at that layer is

    ERF(x)[u, v] = sum_c | d(sum_k F[h // 2, w // 2, k]) / d x[c, u, v] |,

averaged over N images, with the model in eval mode. Its radius (:func:`erf_radius`) is the
half-width of the smallest square around the map's centre of mass that holds a share (50 %,
90 %) of the gradient mass; a square of half-width ``r`` covers ``2r + 1`` pixels per side.
"""
import itertools
import math
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmsola.apis import init_model

from .files import list_images
from .plotting import pyplot

#: Shares of the gradient mass the ERF radius is measured at.
ERF_MASSES = (0.5, 0.9)


def compute_erf(model: nn.Module, layer_names: Sequence[str], images: torch.Tensor,
                batch_size: Optional[int] = None) -> Dict[str, torch.Tensor]:
    """ERF of the centre feature of each named layer, averaged over images.

    ``layer_names`` name submodules whose outputs are (B, h, w, C); ``images`` (N, C_in, H, W)
    are normalised as the model expects and run ``batch_size`` at a time (all when ``None``).
    The model runs in eval mode without parameter gradients; both are restored afterwards.
    Returns layer name -> (H, W) float32 map.
    """
    modules = dict(model.named_modules())
    unknown = [name for name in layer_names if name not in modules]
    if unknown or images.dim() != 4:
        raise ValueError(f'need submodules of {type(model).__name__} (unknown: {unknown}) and '
                         f'(N, C, H, W) images (got {tuple(images.shape)})')
    num_images, _, height, width = images.shape
    sums = {name: torch.zeros(height, width, dtype=torch.float64) for name in layer_names}
    grad_flags = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    model.eval().requires_grad_(False)
    outputs: Dict[str, torch.Tensor] = {}
    handles = [modules[name].register_forward_hook(
        lambda module, inputs, output, name=name: outputs.update({name: output}))
        for name in layer_names]
    try:
        for chunk in images.split(batch_size or num_images):
            chunk = chunk.detach().float().requires_grad_(True)
            with torch.enable_grad():
                model(chunk)
            for index, name in enumerate(layer_names):
                feature = outputs[name]
                centre = feature[:, feature.shape[1] // 2, feature.shape[2] // 2].sum()
                grad, = torch.autograd.grad(centre, chunk,
                                            retain_graph=index < len(layer_names) - 1)
                sums[name] += grad.abs().sum(dim=(0, 1)).double()
    finally:
        for handle in handles:
            handle.remove()
        for param, flag in zip(model.parameters(), grad_flags):
            param.requires_grad_(flag)
        model.train(was_training)
    return {name: (total / num_images).float() for name, total in sums.items()}


def erf_centre(erf_map: torch.Tensor) -> Tuple[float, float]:
    """Centre of mass (row, col) of an (H, W) map, in pixels."""
    rows = torch.arange(erf_map.shape[0], dtype=erf_map.dtype)
    cols = torch.arange(erf_map.shape[1], dtype=erf_map.dtype)
    total = erf_map.sum()
    return float(erf_map.sum(1) @ rows / total), float(erf_map.sum(0) @ cols / total)


def erf_radius(erf_map: torch.Tensor, mass: float = 0.5,
               centre: Optional[Tuple[float, float]] = None) -> float:
    """Half-width of the smallest square around ``centre`` (default: the centre of mass)
    holding the share ``mass`` in (0, 1] of a non-negative (H, W) map's mass, measured to pixel
    centres: a delta gives 0, a uniform k x k block (k - 1) / 2."""
    if not 0 < mass <= 1:
        raise ValueError(f'mass must be in (0, 1], got {mass}')
    if erf_map.dim() != 2 or (erf_map < 0).any() or not erf_map.sum() > 0:
        raise ValueError('erf_map must be a non-negative (H, W) map with some mass, got shape '
                         f'{tuple(erf_map.shape)}')
    erf_map = erf_map.detach().double()
    row, col = erf_centre(erf_map) if centre is None else centre
    rows = torch.arange(erf_map.shape[0], dtype=torch.float64)[:, None] - row
    cols = torch.arange(erf_map.shape[1], dtype=torch.float64)[None, :] - col
    distance = torch.maximum(rows.abs(), cols.abs()).flatten()
    order = torch.argsort(distance, stable=True)
    cumulative = erf_map.flatten()[order].cumsum(0)
    reached = torch.nonzero(cumulative >= (mass - 1e-9) * cumulative[-1])[0, 0]
    return float(distance[order][reached])


def backbone_layers(backbone: nn.Module, which: str = 'blocks') -> List[dict]:
    """``name``, ``depth``, mixer ``letter`` and ``linear`` of every block (``'blocks'``) or
    stage output (``'stages'``) of a :class:`~mmsola.models.SoLAVision`. A stage has the depth
    of its last block, its layout string as letter, and is linear when all its blocks are."""
    if which not in ('blocks', 'stages'):
        raise ValueError(f"--layers must be 'blocks' or 'stages', got {which!r}")
    layers = []
    for i, stage in enumerate(backbone.stages):
        blocks = [dict(name=f'stages.{i}.blocks.{j}',
                       depth=backbone.get_layer_depth(f'stages.{i}.blocks.{j}')[0],
                       letter=backbone.layout[i][j], linear=bool(block.mixer.is_linear))
                  for j, block in enumerate(stage.blocks)]
        layers += blocks if which == 'blocks' else [dict(
            blocks[-1], name=f'stages.{i}', letter=backbone.layout[i],
            linear=all(block['linear'] for block in blocks))]
    return layers


def erf_images(num_images: int, image_size: Sequence[int], data_dir: Optional[str] = None,
               preprocessor: Optional[dict] = None, seed: int = 0) -> torch.Tensor:
    """(N, 3, H, W) inputs: uniform noise in [0, 255], or the first ``num_images`` images of
    ``data_dir`` (sorted, resized, RGB when the preprocessor has ``to_rgb``/``bgr_to_rgb``),
    normalised with the preprocessor's ``mean`` and ``std``."""
    import mmcv
    if num_images < 1:
        raise ValueError(f'--num-images must be >= 1, got {num_images}')
    (height, width), pre = image_size, preprocessor or {}
    if data_dir is None:
        images = torch.rand(num_images, 3, height, width,
                            generator=torch.Generator().manual_seed(seed)) * 255
    else:
        order = 'rgb' if pre.get('to_rgb', pre.get('bgr_to_rgb')) else 'bgr'
        images = torch.stack([
            torch.from_numpy(mmcv.imresize(mmcv.imread(file, channel_order=order),
                                           (width, height))).permute(2, 0, 1).float()
            for file in list_images(data_dir)[:num_images]])
    mean = torch.tensor(pre.get('mean') or [0.0]).view(-1, 1, 1)
    return (images - mean) / torch.tensor(pre.get('std') or [1.0]).view(-1, 1, 1)


def plot_erf_grid(maps: Dict[str, torch.Tensor], layers: Sequence[dict], path: str,
                  title: str, floor: float = 1e-3) -> None:
    """One panel per layer: log10 of its (H, W) map over the peak, clipped at ``floor``, with
    squares of the layer's radii around its centre of mass."""
    from matplotlib.patches import Rectangle
    plt = pyplot()
    columns = min(6, len(layers))
    rows = math.ceil(len(layers) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.0 * rows + 0.4), dpi=72,
                             squeeze=False)
    for ax in axes.flat:
        ax.axis('off')
    for ax, layer in zip(axes.flat, layers):
        erf_map = maps[layer['name']]
        image = ax.imshow(torch.log10((erf_map / erf_map.max()).clamp_min(floor)).numpy(),
                          cmap='magma', vmin=math.log10(floor), vmax=0)
        row, col = layer['centre']
        for radius, style in zip(layer['radius'].values(), ('-', '--')):
            ax.add_patch(Rectangle((col - radius - 0.5, row - radius - 0.5), 2 * radius + 1,
                                   2 * radius + 1, fill=False, lw=0.9, ls=style, ec='cyan'))
        ax.set_title(f"{layer['name']} ({layer['letter']})", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.92, 1))
    fig.colorbar(image, cax=fig.add_axes((0.93, 0.12, 0.012, 0.76)), label='log10(grad / peak)')
    fig.savefig(path)
    plt.close(fig)


def sqrt_depth_fits(runs: Sequence[dict]) -> Dict[str, Optional[float]]:
    """``{mass: a}`` of ``radius = a * sqrt(depth)`` fitted by least squares to the linear
    layers with no softmax layer below them, pooled over runs (``None`` without any)."""
    reference = []
    for run in runs:
        reference += itertools.takewhile(lambda layer: layer['linear'], run['layers'])
    depths = [layer['depth'] for layer in reference]
    return {key: sum(math.sqrt(d) * layer['radius'][key] for d, layer in zip(depths, reference))
            / sum(depths) if reference else None for key in (f'{m:g}' for m in ERF_MASSES)}


def plot_erf_radius(runs: Sequence[dict], fits: Dict[str, Optional[float]], path: str,
                    image_size: Sequence[int], stage_depths: Sequence[int], title: str) -> None:
    """Radius against depth, one panel per mass share, one curve per run, global softmax
    layers starred, the ``a * sqrt(depth)`` fits dashed and stage boundaries dotted."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(fits), figsize=(5.2 * len(fits), 3.9), dpi=80)
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    max_depth = max(layer['depth'] for run in runs for layer in run['layers'])
    for ax, key in zip(axes, fits):
        for index, run in enumerate(runs):
            points = [(layer['depth'], layer['radius'][key]) for layer in run['layers']]
            colour, shrink = colours[index % len(colours)], 0.75**index  # later runs thinner
            ax.plot(*zip(*points), '-o', color=colour, ms=6 * shrink, lw=2.2 * shrink,
                    label=run['label'])
            starred = [p for p, layer in zip(points, run['layers']) if not layer['linear']]
            if starred:
                ax.scatter(*zip(*starred), marker='*', s=160 * shrink**2, facecolor=colour,
                           edgecolor='black', lw=0.6, zorder=3 + index,
                           label=None if ax.collections else 'global softmax layer')
        if fits[key] is not None:
            depth = torch.linspace(0, max_depth, 100)
            ax.plot(depth.numpy(), (fits[key] * depth.sqrt()).numpy(), 'k--', lw=1,
                    label=f'{fits[key]:.1f} sqrt(depth), fit to linear layers')
        for bound in itertools.accumulate(stage_depths[:-1]):
            ax.axvline(bound + 0.5, color='grey', ls=':', lw=0.8)
        ax.axhline(min(image_size) / 2, color='grey', ls='-.', lw=0.8, label='half image side')
        ax.set(xlabel='depth (block index)', xlim=(0, max_depth + 0.5), ylim=(0, None),
               ylabel=f'ERF radius, {float(key):.0%} of gradient mass [px]')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(0, 0.93))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_erf_analysis(config: str, out_dir: str, checkpoint: Optional[str] = None,
                     layers: str = 'blocks', num_images: int = 8,
                     image_size: Sequence[int] = (256, 256), data_dir: Optional[str] = None,
                     cfg_options: Optional[dict] = None,
                     compare_layouts: Optional[Sequence[str]] = None,
                     checkpoints: Optional[Sequence[str]] = None, batch_size: Optional[int] = 4,
                     seed: int = 0) -> dict:
    """ERF maps and radii of a config's backbone, once or once per layout of
    ``compare_layouts`` (with one file of ``checkpoints`` each, or ``checkpoint`` for all).

    Writes ``erf_grid.png`` (``erf_grid_<layout>.png`` per layout), ``erf_radius.png`` and
    ``erf.json`` (returned) to ``out_dir``. Without weights the backbone is seeded with
    ``seed`` and initialised by ``init_weights``, so layouts start alike where they agree.
    """
    from mmengine.fileio import dump
    from mmengine.logging import MMLogger
    from mmengine.utils import mkdir_or_exist
    if checkpoints is not None and len(checkpoints) != len(compare_layouts or []):
        raise ValueError(f'--checkpoints gives {len(checkpoints)} file(s) for '
                         f'{len(compare_layouts or [])} --compare-layouts: give one per layout')
    weights = list(checkpoints or [checkpoint] * len(compare_layouts or [None]))
    for file in filter(None, weights):
        if not osp.isfile(file):
            raise FileNotFoundError(f'checkpoint {file} does not exist')
    mkdir_or_exist(out_dir)
    started = time.time()
    runs, images = [], None
    for layout, weight in zip(compare_layouts or [None], weights):
        options = dict(cfg_options or {}, **({'model.backbone.layout': layout} if layout else {}))
        torch.manual_seed(seed)
        model = init_model(config, weight, cfg_options=options)
        backbone = model.backbone
        if weight is None:
            logger = MMLogger.get_current_instance()
            level = logger.level
            logger.setLevel('WARNING')  # init_weights logs every parameter at INFO
            backbone.init_weights()
            logger.setLevel(level)
        if images is None:
            preprocessor = dict(model.cfg.get('data_preprocessor') or {},
                                **(model.cfg.model.get('data_preprocessor') or {}))
            images = erf_images(num_images, image_size, data_dir, preprocessor, seed)
        records = backbone_layers(backbone, layers)
        maps = compute_erf(backbone, [record['name'] for record in records], images, batch_size)
        for record in records:
            centre = erf_centre(maps[record['name']].double())
            record['centre'] = [round(c, 2) for c in centre]
            record['radius'] = {f'{m:g}': round(erf_radius(maps[record['name']], m, centre), 3)
                                for m in ERF_MASSES}
        label = layout or ','.join(backbone.layout)
        plot_erf_grid(maps, records,
                      osp.join(out_dir, f'erf_grid_{layout}.png' if layout else 'erf_grid.png'),
                      f'ERF of {osp.basename(config)}, layout {label}')
        runs.append(dict(label=label, layout=list(backbone.layout), checkpoint=weight,
                         layers=records))
    fits = sqrt_depth_fits(runs)
    plot_erf_radius(runs, fits, osp.join(out_dir, 'erf_radius.png'), image_size,
                    backbone.depths,
                    f'ERF radius vs depth: {osp.basename(config)}, {image_size[0]}x'
                    f'{image_size[1]}, {len(images)} {"images" if data_dir else "noise images"}'
                    f'{"" if any(weights) else ", random init"}')
    result = dict(config=config, image_size=list(image_size), num_images=len(images),
                  data_dir=data_dir, seed=seed, masses=list(ERF_MASSES),
                  seconds=round(time.time() - started, 1), sqrt_fit=fits, runs=runs)
    dump(result, osp.join(out_dir, 'erf.json'), indent=1)
    return result
