"""Checkpoints of the MALA / RAVLT family (``qhfan/MALA``, ``qhfan/RALA``) as mmsola weights.

Their classification code, a DeiT-style ``main.py``, saves ``{'model', 'model_ema', 'optimizer',
'lr_scheduler', 'epoch', 'scaler', 'args'}``; their detection and segmentation code (mmdet 2.x,
mmseg 0.x) saves ``{'meta', 'state_dict', 'optimizer'}`` with the backbone under ``backbone.``.
Both families share one key layout (RAVLT's attention core has no parameters of its own), which
maps onto :class:`~mmsola.models.backbones.SoLAVision` with the ``stage`` layout:

==========================================  ===============================================
theirs                                      mmsola
==========================================  ===============================================
``patch_embed.proj.{0,3,6,9}`` conv + BN    ``stem.{0..3}.conv`` + ``.bn`` (bias folded)
``layers.i.blocks.j.pos``                   ``stages.i.blocks.j.cpe``
``...norm{1,2}.norm``                       ``...norm{1,2}``
``...attn.qkvo`` (1 x 1 conv)               ``...mixer.qkvg`` (linear; q/k channels permuted)
``...attn.{lepe,proj}``, ``...ffn.*``       ``...mixer.{lepe,proj}``, ``...ffn.*`` (1 x 1 -> linear)
``...gamma_{1,2}`` (1, C, 1, 1)             ``...gamma{1,2}`` (C,)
``layers.i.downsample`` (end of stage i)    ``stages.{i+1}.downsample`` (bias folded)
``extra_norms.i.norm`` (dense tasks)        ``norm{i}``
``proj`` + ``norm`` (classifier)            ``neck.projection.conv`` + ``.bn`` (bias folded)
``head`` (1 x 1 conv)                       ``head.fc`` (linear)
==========================================  ===============================================

Exact rewrites: a convolution bias followed by BatchNorm is the same function as no bias and a
running mean lowered by it (in training mode the batch mean absorbs it, in eval mode the running
mean does). They rotate adjacent channel pairs ``(2i, 2i + 1)`` of each head, mmsola pairs
``(i, i + d/2)``: permuting the query and key output channels of each head turns one into the
other, and leaves every query-key product unchanged.
"""
import argparse
import re
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch

from mmsola.utils.checkpoint import UnsafeCheckpointError, load_local_checkpoint

from ..backbones.sola_vision import SoLAVision

#: The family's published sizes: (embed_dims, depths) -> mmsola arch name.
FAMILY_SIZES = {
    (tuple(arch['embed_dims']), tuple(arch['depths'])): name
    for name, arch in SoLAVision.arch_zoo.items() if len(name) > 1
}
#: Per family: the mixer letter of its linear layers, the classifier's projection width and
#: the layer-scale initial values (per stage) of each size, read from their model files.
FAMILIES = {
    'mala': dict(
        title='MALA',
        linear_letter='L',
        projection=dict(tiny=2048, small=2048, base=2048, large=2560),
        layer_scale_init=dict(tiny=1.0, small=1.0, base=(1.0, 1.0, 1e-6, 1e-6), large=1e-6),
        model_prefix='MALA_'),
    'ravlt': dict(
        title='RAVLT',
        linear_letter='R',
        projection=dict(tiny=1024, small=1024, base=1024, large=1024),
        layer_scale_init=dict(tiny=1.0, small=1.0, base=(1.0, 1.0, 1e-6, 1e-6), large=1e-6),
        model_prefix='RAVLT_'),
}
_SIZE_LETTERS = dict(tiny='T', small='S', base='B', large='L')
#: Prefixes of a dense checkpoint's non-backbone modules, kept unchanged (mmdet 2.x and mmseg
#: 0.x heads and necks load into mmdet 3.x / mmseg 1.x under the same names).
DENSE_PREFIXES = ('backbone.', 'neck.', 'rpn_head.', 'roi_head.', 'bbox_head.', 'mask_head.',
                  'decode_head.', 'auxiliary_head.')


class FamilyCheckpointError(ValueError):
    """A file that is not a checkpoint of the family and size it was converted as."""


class _ReadRecorder(dict):
    """A state dict that remembers which keys the conversion read."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read: set = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def load_family_checkpoint(path: str, trusted: bool = False) -> dict:
    """Read a checkpoint of their training scripts without unpickling arbitrary objects.

    Their classification checkpoints pickle the run's ``argparse.Namespace`` next to the
    weights, so ``argparse.Namespace`` is allowed on top of mmsola's safe list (tensors,
    containers, numpy, mmengine's classes); anything else is refused with the object named.
    ``trusted=True`` unpickles everything: only for files from a source you trust.
    """
    if trusted:
        return torch.load(path, map_location='cpu', weights_only=False)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return load_local_checkpoint(path, map_location='cpu')
    except UnsafeCheckpointError as error:
        raise UnsafeCheckpointError(
            f'{error}\nThe weights cannot be read from {path} without unpickling that object. '
            'If the file comes from a source you trust, convert it with --trusted.') from None


def family_state_dict(checkpoint: dict, use_ema: bool = False) -> Tuple[dict, str]:
    """The weights of a checkpoint and where they came from (``'model'``, ``'model_ema'``, ...)."""
    if use_ema:
        if 'model_ema' not in checkpoint:
            raise FamilyCheckpointError(
                f'--ema was asked for, but the checkpoint has no model_ema (keys: '
                f'{sorted(checkpoint)})')
        return checkpoint['model_ema'], 'model_ema'
    for key in ('model', 'state_dict'):
        if key in checkpoint:
            return checkpoint[key], key
    if all(isinstance(value, torch.Tensor) for value in checkpoint.values()):
        return checkpoint, 'the file itself'
    raise FamilyCheckpointError(
        f"no weights found: expected a 'model' or 'state_dict' entry, the file has "
        f'{sorted(checkpoint)}')


def _strip_module(state_dict: dict) -> dict:
    if state_dict and all(key.startswith('module.') for key in state_dict):
        return {key[len('module.'):]: value for key, value in state_dict.items()}
    return dict(state_dict)


def infer_size(backbone: dict) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """(embed_dims, depths) of a backbone state dict in the family's key names."""
    blocks: Dict[int, set] = {}
    dims: Dict[int, int] = {}
    for key, value in backbone.items():
        match = re.match(r'layers\.(\d+)\.blocks\.(\d+)\.norm1\.norm\.weight$', key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks.setdefault(stage, set()).add(block)
            dims[stage] = value.shape[0]
    if sorted(blocks) != [0, 1, 2, 3]:
        sample = ', '.join(list(backbone)[:5]) or 'no keys'
        raise FamilyCheckpointError(
            'not a MALA/RAVLT backbone: expected layers.0-3.blocks.*.norm1.norm.weight, found '
            f'stages {sorted(blocks)}; keys start with: {sample}')
    return tuple(dims[i] for i in range(4)), tuple(len(blocks[i]) for i in range(4))


def _check_family(family: str, size: Optional[str], projection: Optional[int],
                  model_name: Optional[str]) -> None:
    """Raise if the run's ``args.model`` or the projection width name another family or size."""
    spec = FAMILIES[family]
    expected_name = spec['model_prefix'] + _SIZE_LETTERS[size] if size else None
    expected_width = spec['projection'][size] if size else None
    found = []
    if model_name and (not model_name.startswith(spec['model_prefix']) or
                       (expected_name and model_name != expected_name)):
        found.append(f'args.model={model_name!r}')
    if expected_width and projection is not None and projection != expected_width:
        found.append(f'a {projection}-wide classifier projection')
    if found:
        title = spec['title'] + (f'-{_SIZE_LETTERS[size]}' if size else '')
        expected = f'args.model={expected_name!r} and a {expected_width}-wide projection' \
            if size else f"args.model starting with {spec['model_prefix']!r}"
        raise FamilyCheckpointError(
            f"this file is not {title}: it has {' and '.join(found)}, where {title} has "
            f'{expected}. Convert it as the family and size it is.')


def _qk_channel_order(embed_dims: int, num_heads: int) -> torch.Tensor:
    """Output-channel order of mmsola's q/k/v/gate projection, as indices into theirs.

    Within each head of ``d`` channels, mmsola channel ``p`` is their ``2p`` and ``p + d/2``
    their ``2p + 1`` (the rotation pairs); v and the gate keep their order.
    """
    head_dims = embed_dims // num_heads
    within = torch.cat((torch.arange(0, head_dims, 2), torch.arange(1, head_dims, 2)))
    per_head = torch.cat([head * head_dims + within for head in range(num_heads)])
    return torch.cat((per_head, embed_dims + per_head, torch.arange(2 * embed_dims,
                                                                    4 * embed_dims)))


def _fold_bias_into_bn(out: dict, conv: str, bn: str, theirs: dict, their_conv: str,
                       their_bn: str) -> None:
    """Their ``conv(+bias) -> BN`` as mmsola's bias-free ``conv -> BN``: running_mean -= bias."""
    out[f'{conv}.weight'] = theirs[f'{their_conv}.weight']
    for name in ('weight', 'bias', 'running_var', 'num_batches_tracked'):
        if f'{their_bn}.{name}' in theirs:
            out[f'{bn}.{name}'] = theirs[f'{their_bn}.{name}']
    bias = theirs.get(f'{their_conv}.bias')
    mean = theirs[f'{their_bn}.running_mean']
    out[f'{bn}.running_mean'] = mean if bias is None else mean - bias


def _squeeze_1x1(weight: torch.Tensor) -> torch.Tensor:
    return weight.flatten(1) if weight.dim() == 4 else weight


def convert_backbone(theirs: dict, num_heads: Sequence[int]) -> 'OrderedDict[str, torch.Tensor]':
    """Their backbone state dict (no prefix) -> :class:`SoLAVision`'s, by the table above."""
    embed_dims, depths = infer_size(theirs)
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for index in range(4):
        _fold_bias_into_bn(out, f'stem.{index}.conv', f'stem.{index}.bn', theirs,
                           f'patch_embed.proj.{3 * index}', f'patch_embed.proj.{3 * index + 1}')
    for stage in range(4):
        order = _qk_channel_order(embed_dims[stage], num_heads[stage])
        if stage > 0:
            _fold_bias_into_bn(out, f'stages.{stage}.downsample.conv',
                               f'stages.{stage}.downsample.bn', theirs,
                               f'layers.{stage - 1}.downsample.reduction',
                               f'layers.{stage - 1}.downsample.norm')
        for block in range(depths[stage]):
            src, dst = f'layers.{stage}.blocks.{block}', f'stages.{stage}.blocks.{block}'
            for name in ('weight', 'bias'):
                out[f'{dst}.cpe.{name}'] = theirs[f'{src}.pos.{name}']
                out[f'{dst}.norm1.{name}'] = theirs[f'{src}.norm1.norm.{name}']
                out[f'{dst}.mixer.qkvg.{name}'] = _squeeze_1x1(
                    theirs[f'{src}.attn.qkvo.{name}'])[order]
                out[f'{dst}.mixer.lepe.{name}'] = theirs[f'{src}.attn.lepe.{name}']
                out[f'{dst}.mixer.proj.{name}'] = _squeeze_1x1(theirs[f'{src}.attn.proj.{name}'])
                out[f'{dst}.norm2.{name}'] = theirs[f'{src}.norm2.norm.{name}']
                for layer in ('fc1', 'fc2'):
                    out[f'{dst}.ffn.{layer}.{name}'] = _squeeze_1x1(
                        theirs[f'{src}.ffn.{layer}.{name}'])
                out[f'{dst}.ffn.dwconv.{name}'] = theirs[f'{src}.ffn.dwconv.{name}']
            for number in (1, 2):
                if f'{src}.gamma_{number}' in theirs:
                    out[f'{dst}.gamma{number}'] = theirs[f'{src}.gamma_{number}'].flatten()
    for stage in range(4):
        for name in ('weight', 'bias'):
            key = f'extra_norms.{stage}.norm.{name}'
            if key in theirs:
                out[f'norm{stage}.{name}'] = theirs[key]
    return out


def convert_family_checkpoint(checkpoint: dict,
                              family: str,
                              num_heads: Optional[Sequence[int]] = None,
                              use_ema: bool = False) -> Tuple[dict, dict]:
    """Convert a loaded checkpoint of ``family`` (``'mala'`` or ``'ravlt'``) to mmsola keys.

    A classification checkpoint becomes an mmpretrain ``ImageClassifier`` state dict
    (``backbone.``, ``neck.projection``, ``head.fc``); a detection or segmentation checkpoint
    keeps its necks and heads and gets mmsola's ``backbone.`` keys.

    Args:
        checkpoint: what :func:`load_family_checkpoint` returned.
        family: ``'mala'`` or ``'ravlt'``.
        num_heads: attention heads per stage; needed only for a size outside the family's
            T/S/B/L (the heads cannot be read off the weights).
        use_ema: convert ``model_ema`` instead of ``model``.

    Returns:
        The state dict, and a summary (``arch``, ``embed_dims``, ``depths``, ``num_heads``,
        ``task``, ``entry`` (which entry of the file), ``projection``, ``model_name``).

    Raises:
        FamilyCheckpointError: naming what was found, for a file of another family or size.
    """
    if family not in FAMILIES:
        raise FamilyCheckpointError(f'family must be one of {sorted(FAMILIES)}, got {family!r}')
    weights, entry = family_state_dict(checkpoint, use_ema)
    weights = _strip_module(weights)
    dense = any(key.startswith('backbone.') for key in weights)
    theirs = _ReadRecorder({key[len('backbone.'):]: value
                            for key, value in weights.items() if key.startswith('backbone.')}
                           if dense else weights)
    embed_dims, depths = infer_size(theirs)
    size = FAMILY_SIZES.get((embed_dims, depths))
    if size is not None:
        heads = tuple(SoLAVision.arch_zoo[size]['num_heads'])
        if num_heads is not None and tuple(num_heads) != heads:
            raise FamilyCheckpointError(
                f'{size} (embed_dims {embed_dims}, depths {depths}) has num_heads {heads}, '
                f'not {tuple(num_heads)}')
    elif num_heads is None:
        raise FamilyCheckpointError(
            f'embed_dims {embed_dims} and depths {depths} are none of the family\'s sizes '
            f'({", ".join(sorted(set(FAMILY_SIZES.values())))}): give num_heads')
    else:
        heads = tuple(num_heads)
    args = checkpoint.get('args')
    model_name = getattr(args, 'model', None) if args is not None else None
    projection = weights['proj.weight'].shape[0] if 'proj.weight' in weights else None
    _check_family(family, size, projection, model_name)

    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key, value in convert_backbone(theirs, heads).items():
        converted[f'backbone.{key}'] = value
    if dense:
        for key, value in weights.items():
            if not key.startswith('backbone.'):
                converted[key] = value
    elif projection is not None:
        _fold_bias_into_bn(converted, 'neck.projection.conv', 'neck.projection.bn', theirs,
                           'proj', 'norm')
        converted['head.fc.weight'] = _squeeze_1x1(theirs['head.weight'])
        converted['head.fc.bias'] = theirs['head.bias']
    # Everything of theirs must have been read, but the rotary tables, which mmsola recomputes.
    unused = sorted(key for key in set(theirs) - theirs.read
                    if not re.match(r'layers\.\d+\.RoPE\.angle$', key))
    if unused:
        raise FamilyCheckpointError(
            f'{len(unused)} weights of the file have no place in mmsola (first: '
            f'{", ".join(unused[:5])}); is it a {FAMILIES[family]["title"]} checkpoint of '
            'another code version?')
    summary = dict(
        arch=size or 'custom', embed_dims=embed_dims, depths=depths, num_heads=heads,
        task='dense' if dense else 'classification', entry=entry, projection=projection,
        model_name=model_name)
    return converted, summary
