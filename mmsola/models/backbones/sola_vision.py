"""SoLA-Vision: a 4-stage backbone of linear attention with layer-wise global softmax layers.

One implementation serves classification (mmpretrain), detection (mmdet) and segmentation
(mmseg). Inside the stages, feature maps are kept channels-last, (B, H, W, C), so that every
linear layer and LayerNorm runs on contiguous memory; the depthwise convolutions see the same
memory as a channels-last (B, C, H, W) view without a copy. Outputs are (B, C, H, W).
"""
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.logging import print_log
from mmengine.model import BaseModule, ModuleList, Sequential
from mmengine.model.weight_init import trunc_normal_
from torch.nn.modules.batchnorm import _BatchNorm

from mmsola.registry import MODELS
from ..attention.rotary import RotaryEmbedding2d, RotaryTable
from ..layers import activate, records_no_graph, residual_depthwise_conv, scaled_linear
from .layout import resolve_layout, sola_layout


class CheckpointMismatchError(ValueError):
    """A checkpoint none of whose keys belongs to the backbone: a wrong file or prefix."""


def _to_channels_first(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) -> (B, C, H, W) view (channels-last memory, no copy)."""
    return x.permute(0, 3, 1, 2)


def _to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H, W, C); a view when ``x`` has channels-last memory."""
    return x.permute(0, 2, 3, 1)


class ConvFFN(BaseModule):
    """Feed-forward network with a depthwise 3 x 3 convolution between its two projections.

    ``fc1`` (C -> hidden), activation, ``h + dwconv(h)``, ``fc2`` (hidden -> C).

    Shapes:
        forward: ``x`` (B, H, W, C), ``layer_scale`` (C,) or None (multiplies the output,
        folded into ``fc2``), ``residual`` (B, H, W, C) or None (added to the output, in place
        where autograd records nothing) -> (B, H, W, C).
    """

    def __init__(self,
                 embed_dims: int,
                 hidden_dims: int,
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.act = build_activation_layer(act_cfg)
        self.dwconv = nn.Conv2d(hidden_dims, hidden_dims, 3, padding=1, groups=hidden_dims)
        self.fc2 = nn.Linear(hidden_dims, embed_dims)

    def forward(self, x: torch.Tensor, layer_scale: Optional[torch.Tensor] = None,
                residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        hidden = activate(self.act, self.fc1(x))
        hidden = _to_channels_last(residual_depthwise_conv(_to_channels_first(hidden),
                                                           self.dwconv))
        return scaled_linear(hidden, self.fc2, layer_scale, residual)


def _is_widening_matmul(op, args) -> bool:
    """Whether ``op`` is the matrix product of a projection to more features than it reads."""
    if op is torch.ops.aten.addmm.default:
        return args[2].shape[-1] > args[1].shape[-1]
    if op is torch.ops.aten.mm.default:
        return args[1].shape[-1] > args[0].shape[-1]
    return False


def keep_widening_projections(ctx, op, *args, **kwargs) -> cp.CheckpointPolicy:
    """Selective-checkpoint policy of :class:`SoLABlock` (``recompute=True``).

    Keeps the outputs of the projections that widen the features (q/k/v/gate, the FFN's first
    layer) and of softmax attention; everything else (norms, the linear attention cores,
    depthwise convolutions, activations, the projections back to C channels) is recomputed in
    the backward pass from those and the block input.
    """
    if _is_widening_matmul(op, args) or 'scaled_dot_product' in str(op):
        return cp.CheckpointPolicy.MUST_SAVE
    return cp.CheckpointPolicy.PREFER_RECOMPUTE


class SoLABlock(BaseModule):
    """One layer: conv positional encoding, pre-norm token mixer, pre-norm conv-FFN.

    Args:
        embed_dims: channels ``C``.
        mixer_cfg: config of the token mixer (``embed_dims`` and ``num_heads`` filled in).
        mlp_ratio: FFN hidden channels / ``C``.
        drop_path: stochastic-depth rate of both residual branches.
        layer_scale_init: initial value of the per-channel residual scales; ``None`` or 0
            disables them.
        norm_cfg: config of the two pre-norms (applied over channels).
        act_cfg: FFN activation.
        with_cp: recompute the whole block in the backward pass to save memory.
        recompute: selective checkpointing (:func:`keep_widening_projections`): keep only the
            block input and the outputs of its widening projections and softmax attention,
            recompute the rest; ignored under ``with_cp``, which keeps only the input.

    Shapes:
        forward: ``x`` (B, H, W, C), ``rotary`` (sin, cos) of (H * W, head_dim) -> (B, H, W, C).
    """

    def __init__(self,
                 embed_dims: int,
                 mixer_cfg: dict,
                 mlp_ratio: float = 3.5,
                 drop_path: float = 0.0,
                 layer_scale_init: Optional[float] = 1e-6,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 with_cp: bool = False,
                 recompute: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        self.recompute = recompute
        self.cpe = nn.Conv2d(embed_dims, embed_dims, 3, padding=1, groups=embed_dims)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mixer = MODELS.build(mixer_cfg)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = ConvFFN(embed_dims, int(embed_dims * mlp_ratio), act_cfg)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        if layer_scale_init:
            self.gamma1 = nn.Parameter(torch.full((embed_dims, ), float(layer_scale_init)))
            self.gamma2 = nn.Parameter(torch.full((embed_dims, ), float(layer_scale_init)))
        else:
            self.gamma1 = self.gamma2 = None

    def _forward(self, x: torch.Tensor, rotary: Optional[RotaryTable]) -> torch.Tensor:
        x = _to_channels_last(residual_depthwise_conv(_to_channels_first(x), self.cpe))
        if self.training and not isinstance(self.drop_path, nn.Identity):
            x = x + self.drop_path(self.mixer(self.norm1(x), rotary, self.gamma1))
            return x + self.drop_path(self.ffn(self.norm2(x), self.gamma2))
        # x is the convolution's fresh output: the branches may add into it in place.
        x = self.mixer(self.norm1(x), rotary, self.gamma1, residual=x)
        return self.ffn(self.norm2(x), self.gamma2, residual=x)

    def forward(self, x: torch.Tensor, rotary: Optional[RotaryTable] = None) -> torch.Tensor:
        # Non-reentrant checkpointing needs no input that requires grad: a first block behind a
        # frozen stem is checkpointed too.
        if self.training and torch.is_grad_enabled() and (
                x.requires_grad or any(p.requires_grad for p in self.parameters())):
            if self.with_cp:
                return cp.checkpoint(self._forward, x, rotary, use_reentrant=False)
            if self.recompute:
                return cp.checkpoint(
                    self._forward,
                    x,
                    rotary,
                    use_reentrant=False,
                    context_fn=partial(cp.create_selective_checkpoint_contexts,
                                       keep_widening_projections))
        return self._forward(x, rotary)


class SoLAStage(BaseModule):
    """A stage: optional stride-2 downsampling, then blocks sharing one rotary table.

    Args:
        in_dims: channels of the input (of the previous stage).
        embed_dims: channels of this stage.
        num_heads: attention heads of every mixer in the stage.
        mixer_cfgs: one mixer config per block (from the layout).
        downsample: whether to start with a 3 x 3 stride-2 convolution and a norm.
        drop_paths: stochastic-depth rate per block.
        conv_norm_cfg: norm after the downsampling convolution.
        rotary_cfg: options of the stage's :class:`RotaryEmbedding2d` (``base``,
            ``freq_exponents``).
        block_kwargs: passed to every :class:`SoLABlock`.

    Shapes:
        forward: ``x`` (B, H_in, W_in, C_in) and an optional ``injection`` (B, H, W, C) added
        after downsampling -> (B, H, W, C), with H = ceil(H_in / 2) when downsampling.
    """

    def __init__(self,
                 in_dims: int,
                 embed_dims: int,
                 num_heads: int,
                 mixer_cfgs: Sequence[dict],
                 downsample: bool,
                 drop_paths: Sequence[float],
                 conv_norm_cfg: dict = dict(type='BN'),
                 rotary_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **block_kwargs) -> None:
        super().__init__(init_cfg=init_cfg)
        # efficient_conv_bn_eval: a BatchNorm in eval mode is folded into the convolution.
        self.downsample = ConvModule(
            in_dims, embed_dims, 3, stride=2, padding=1, norm_cfg=conv_norm_cfg, act_cfg=None,
            efficient_conv_bn_eval=True) if downsample else None
        self.rotary = RotaryEmbedding2d(embed_dims // num_heads, **(rotary_cfg or {}))
        self.blocks = ModuleList([
            SoLABlock(
                embed_dims,
                dict(mixer_cfg, embed_dims=embed_dims, num_heads=num_heads),
                drop_path=rate,
                **block_kwargs) for mixer_cfg, rate in zip(mixer_cfgs, drop_paths)
        ])

    def forward(self,
                x: torch.Tensor,
                injection: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.downsample is not None:
            x = _to_channels_last(self.downsample(_to_channels_first(x)))
        if injection is not None:
            x = x + injection
        _, height, width, _ = x.shape
        # float32 tables (half-precision runs upcast where they rotate); float64 for float64
        rotary = self.rotary(height, width, x.device, torch.promote_types(x.dtype, torch.float32))
        for block in self.blocks:
            x = block(x, rotary)
        return x


class EarlyFeatureInjection(BaseModule):
    """Brings early high-resolution stage outputs to a later stage (reconstruction of HSB).

    Each source map is reduced to the target resolution (a depthwise convolution of stride
    ``s`` with kernel ``2s - 1``, or average pooling), normalised, projected to the target
    channels and multiplied by a per-channel scale that starts at zero, so a model trained
    without the injection computes the same function until the scales learn otherwise.

    Args:
        source_dims: channels of each source stage.
        target_dims: channels of the target stage.
        strides: resolution ratio of each source to the target (a power of 2).
        mode: ``'conv'`` (strided depthwise convolution) or ``'pool'`` (average pooling).
        norm_cfg: norm applied before the projection.

    Shapes:
        forward: ``sources`` [(B, H_i, W_i, C_i)], ``size`` (H, W) of the target
        -> (B, H, W, target_dims).
    """

    def __init__(self,
                 source_dims: Sequence[int],
                 target_dims: int,
                 strides: Sequence[int],
                 mode: str = 'conv',
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if mode not in ('conv', 'pool'):
            raise ValueError(f"early_fusion mode must be 'conv' or 'pool', got {mode!r}")
        self.mode = mode
        self.reducers = ModuleList([
            nn.Conv2d(dims, dims, 2 * stride - 1, stride=stride, padding=stride - 1,
                      groups=dims) if mode == 'conv' else nn.Identity()
            for dims, stride in zip(source_dims, strides)
        ])
        self.norms = ModuleList([build_norm_layer(norm_cfg, dims)[1] for dims in source_dims])
        self.projections = ModuleList([nn.Linear(dims, target_dims) for dims in source_dims])
        self.scales = nn.Parameter(torch.zeros(len(source_dims), target_dims))

    def forward(self, sources: Sequence[torch.Tensor], size: Tuple[int, int]) -> torch.Tensor:
        injected = 0
        for index, source in enumerate(sources):
            reduced = self.reducers[index](_to_channels_first(source))
            if self.mode == 'pool':
                reduced = F.adaptive_avg_pool2d(reduced, size)
            reduced = _to_channels_last(reduced)
            projected = self.projections[index](self.norms[index](reduced))
            injected = injected + self.scales[index] * projected
        return injected


@MODELS.register_module()
class SoLAVision(BaseModule):
    """SoLA-Vision backbone: linear attention with layer-wise global softmax layers.

    A reconstruction of arXiv 2601.11164 on the MALA/RAVLT macro-architecture; see
    docs/known_and_reconstructed.md for what is known and what is reconstructed.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'``, ``'large'`` (or ``'t'``, ``'s'``, ``'b'``,
            ``'l'``) or a dict with ``embed_dims``,
            ``depths``, ``num_heads`` (4 entries each) and optionally ``mlp_ratio``,
            ``layout`` and ``drop_path_rate``.
        layout: the mixer letter of every layer: a preset (``'sola'``, ``'linear'``,
            ``'softmax'``, ``'stage'``), one string per stage such as
            ``('LL', 'LL', 'LLSLLS', 'LS')``, or the same comma-separated.
        mixers: letter -> token-mixer config, merged over :attr:`default_mixers`
            (``L`` magnitude-aware linear, ``E`` plain ELU linear, ``R`` rank-augmented linear
            of RAVLT, ``S`` global softmax).
        in_channels: input image channels.
        early_fusion: inject stage-1 and stage-2 outputs into stage 3: ``True``, ``False`` or a
            dict of :class:`EarlyFeatureInjection` options (``mode``, ``norm_cfg``) plus
            ``source_stages`` (default ``(0, 1)``) and ``target_stage`` (default 2).
        out_indices: stages (0-3) whose normalised outputs are returned.
        frozen_stages: freeze the stem (0) and stages ``< frozen_stages`` (parameters and
            norm statistics); -1 freezes nothing.
        norm_eval: keep BatchNorm layers in eval mode while training.
        with_cp: gradient checkpointing of every block (non-reentrant, only when training).
        recompute: selective checkpointing of every block while training: only the block
            input and the outputs of its widening projections (q/k/v/gate, FFN ``fc1``) and
            softmax attention are kept; the rest is recomputed in the backward pass (see
            :func:`keep_widening_projections`). Ignored where ``with_cp`` is set.
        drop_path_rate: largest stochastic-depth rate, reached linearly at the last layer;
            ``None`` takes the arch's value.
        layer_scale_init: initial residual scale, one value or one per stage; ``None`` or 0
            disables layer scale (in that stage).
        mlp_ratio: FFN expansion; ``None`` takes the arch's value (3.5).
        norm_cfg: norm of the blocks and of the outputs (over channels).
        conv_norm_cfg: norm of the stem and downsampling convolutions.
        act_cfg: activation of the stem and the FFNs.
        stem_width_ratios: output channels of the stem's four 3 x 3 convolutions, as fractions
            of ``embed_dims[0]``; the last must be 1. mmsola's default widens at the third
            convolution, MALA/RAVLT's ``(0.5, 0.5, 0.5, 1)`` at the fourth.
        rotary_cfg: options of the 2-D rotary encoding of every stage
            (:class:`~mmsola.models.attention.RotaryEmbedding2d`: ``base``,
            ``freq_exponents``).
        norm_outputs: normalise every returned stage output (one norm per ``out_indices``
            entry, as the dense tasks need); the MALA/RAVLT classifiers return the last stage
            un-normalised.
        init_cfg: MMEngine init config; ``dict(type='Pretrained', checkpoint=..., prefix=...)``
            loads weights through MMEngine's ``PretrainedInit``, which logs missing, unexpected
            and shape-mismatched keys; a checkpoint that matches no key raises.

    Shapes:
        forward: (B, in_channels, H, W) -> tuple of (B, embed_dims[i], H_i, W_i) for
        ``i`` in ``out_indices``, with H_i = ceil(H / 2^(i + 2)).
    """

    arch_zoo = {
        **dict.fromkeys(('t', 'tiny'), dict(
            embed_dims=(64, 128, 256, 512), depths=(2, 2, 6, 2), num_heads=(1, 2, 4, 8),
            drop_path_rate=0.1)),
        **dict.fromkeys(('s', 'small'), dict(
            embed_dims=(64, 128, 320, 512), depths=(3, 5, 9, 3), num_heads=(1, 2, 5, 8),
            drop_path_rate=0.15)),
        **dict.fromkeys(('b', 'base'), dict(
            embed_dims=(96, 192, 384, 512), depths=(4, 6, 12, 6), num_heads=(1, 2, 6, 8),
            drop_path_rate=0.4)),
        **dict.fromkeys(('l', 'large'), dict(
            embed_dims=(96, 192, 448, 640), depths=(4, 7, 19, 8), num_heads=(1, 2, 7, 10),
            drop_path_rate=0.55)),
    }
    # Scoped names: MMEngine builds from the registry of the current default scope (mmdet's,
    # mmseg's, ...), which reaches mmsola's node only through the scope.
    default_mixers = {
        'L': dict(type='mmsola.MagnitudeAwareLinearAttention'),
        'E': dict(type='mmsola.ELULinearAttention'),
        'R': dict(type='mmsola.RankAugmentedLinearAttention'),
        'S': dict(type='mmsola.SoftmaxAttention'),
    }
    num_stages = 4
    #: Version of the state-dict layout, saved in checkpoints' metadata. When a parameter is
    #: renamed, bump it and add the renames to :attr:`key_renames` under the new version.
    _version = 1
    #: version -> [(old key suffix, new key suffix)]: applied to checkpoints saved before it.
    key_renames: Dict[int, List[Tuple[str, str]]] = {}

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 layout: Union[str, Sequence[str]] = 'sola',
                 mixers: Optional[Dict[str, dict]] = None,
                 in_channels: int = 3,
                 early_fusion: Union[bool, dict] = True,
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 recompute: bool = False,
                 drop_path_rate: Optional[float] = None,
                 layer_scale_init: Union[None, float, Sequence[Optional[float]]] = 1e-6,
                 mlp_ratio: Optional[float] = None,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 conv_norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU'),
                 stem_width_ratios: Sequence[float] = (0.5, 0.5, 1.0, 1.0),
                 rotary_cfg: Optional[dict] = None,
                 norm_outputs: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        arch = self._resolve_arch(arch)
        pretrained = self._pretrained_cfg(init_cfg)
        if pretrained is not None and not pretrained.get('checkpoint'):
            raise ValueError("init_cfg of type 'Pretrained' needs a `checkpoint`")
        super().__init__(init_cfg=init_cfg)

        self.arch_settings = arch
        self.in_channels = in_channels
        self.embed_dims = tuple(arch['embed_dims'])
        self.depths = tuple(arch['depths'])
        self.num_heads = tuple(arch['num_heads'])
        self.mixers = {**self.default_mixers, **(mixers or {})}
        self.layout = resolve_layout(layout, self.depths, self.mixers, arch.get('layout'))
        self.out_indices = self._check_out_indices(out_indices)
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {self.num_stages}], '
                             f'got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        if drop_path_rate is None:
            drop_path_rate = arch.get('drop_path_rate', 0.0)
        mlp_ratio = arch.get('mlp_ratio', 3.5) if mlp_ratio is None else mlp_ratio

        layer_scales = self._per_stage('layer_scale_init', layer_scale_init)
        self.stem = self._build_stem(in_channels, stem_width_ratios, conv_norm_cfg, act_cfg)

        total_depth = sum(self.depths)
        rates = torch.linspace(0, drop_path_rate, total_depth).tolist()
        self.stages = ModuleList()
        for index, (dims, depth, heads) in enumerate(
                zip(self.embed_dims, self.depths, self.num_heads)):
            start = sum(self.depths[:index])
            self.stages.append(
                SoLAStage(
                    in_dims=self.embed_dims[max(index - 1, 0)],
                    embed_dims=dims,
                    num_heads=heads,
                    mixer_cfgs=[self.mixers[letter] for letter in self.layout[index]],
                    downsample=index > 0,
                    drop_paths=rates[start:start + depth],
                    conv_norm_cfg=conv_norm_cfg,
                    rotary_cfg=rotary_cfg,
                    mlp_ratio=mlp_ratio,
                    layer_scale_init=layer_scales[index],
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    with_cp=with_cp,
                    recompute=recompute))

        self.early_fusion = None
        self.fusion_sources: Tuple[int, ...] = ()
        self.fusion_target = -1
        if early_fusion:
            options = dict(early_fusion) if isinstance(early_fusion, dict) else {}
            self.fusion_sources = tuple(options.pop('source_stages', (0, 1)))
            self.fusion_target = options.pop('target_stage', 2)
            if not all(0 <= s < self.fusion_target for s in self.fusion_sources) or \
                    not 0 < self.fusion_target < self.num_stages:
                raise ValueError('early_fusion needs source_stages before target_stage, got '
                                 f'{self.fusion_sources} -> {self.fusion_target}')
            options.setdefault('norm_cfg', norm_cfg)
            self.early_fusion = EarlyFeatureInjection(
                source_dims=[self.embed_dims[s] for s in self.fusion_sources],
                target_dims=self.embed_dims[self.fusion_target],
                strides=[2**(self.fusion_target - s) for s in self.fusion_sources],
                **options)

        self.norm_outputs = norm_outputs
        for index in self.out_indices:
            norm = build_norm_layer(norm_cfg, self.embed_dims[index])[1] if norm_outputs else None
            self.add_module(f'norm{index}', norm)

        self._freeze_stages()

    @classmethod
    def _resolve_arch(cls, arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            if arch not in cls.arch_zoo:
                raise ValueError(f'unknown arch {arch!r} for {cls.__name__}; choose one of '
                                 f'{sorted(cls.arch_zoo)} or give a dict')
            return dict(cls.arch_zoo[arch], name=arch)
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a name or a dict, got {type(arch).__name__}')
        arch = dict(arch)
        for key in ('embed_dims', 'depths', 'num_heads'):
            if key not in arch:
                raise KeyError(f'custom arch is missing the key {key!r}; it needs '
                               "'embed_dims', 'depths' and 'num_heads'")
            if len(arch[key]) != cls.num_stages:
                raise ValueError(f'arch {key!r} needs {cls.num_stages} entries (one per stage), '
                                 f'got {tuple(arch[key])}')
        for stage, (dims, heads) in enumerate(zip(arch['embed_dims'], arch['num_heads'])):
            where = (f"stage {stage + 1}: arch['embed_dims'][{stage}]={dims}, "
                     f"arch['num_heads'][{stage}]={heads}")
            if heads < 1 or dims % heads:
                raise ValueError(f'{where}: embed_dims must be a multiple of num_heads')
            if (dims // heads) % 4:
                raise ValueError(f'{where}: the head size {dims // heads} must be a multiple of '
                                 '4 for the 2-D rotary encoding (two axes, rotation pairs)')
        arch.setdefault('name', 'custom')
        arch.setdefault('layout', sola_layout(arch['depths']))
        return arch

    def _per_stage(self, name: str, value) -> tuple:
        """``value`` for every stage: a sequence of ``num_stages`` entries or one for all."""
        if isinstance(value, (list, tuple)):
            if len(value) != self.num_stages:
                raise ValueError(f'{name} needs one value or {self.num_stages} (one per stage), '
                                 f'got {tuple(value)}')
            return tuple(value)
        return (value, ) * self.num_stages

    def _build_stem(self, in_channels: int, width_ratios: Sequence[float], norm_cfg: dict,
                    act_cfg: dict) -> Sequential:
        """Four 3 x 3 conv-norm layers of strides 2, 1, 1, 2 (activation after the first three).

        Their BatchNorms are not folded into the convolutions at eval time: folded, the released
        MALA weights' stage-1 features moved 1.2e-5 from the official ones (limit 1e-5); at
        inference :meth:`_stem_forward` applies them in place instead.
        """
        if len(width_ratios) != 4 or width_ratios[-1] != 1:
            raise ValueError('stem_width_ratios needs 4 fractions of embed_dims[0], the last 1 '
                             f'(the stem ends at embed_dims[0]), got {tuple(width_ratios)}')
        widths = [int(self.embed_dims[0] * ratio) for ratio in width_ratios]
        if min(widths) < 1:
            raise ValueError(f'stem_width_ratios {tuple(width_ratios)} of embed_dims[0]='
                             f'{self.embed_dims[0]} give a stem without channels: {widths}')
        inputs = [in_channels] + widths[:-1]
        return Sequential(*[
            ConvModule(in_dims, out_dims, 3, stride=2 if index in (0, 3) else 1, padding=1,
                       norm_cfg=norm_cfg, act_cfg=act_cfg if index < 3 else None)
            for index, (in_dims, out_dims) in enumerate(zip(inputs, widths))
        ])

    def _stem_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The stem; where autograd records nothing and a BatchNorm uses its running
        statistics, the norm and the GELU run in place on the convolution's output (the same
        arithmetic as the modules, no new half-resolution maps). (B, C_in, H, W) -> (B, C, H/4, W/4)."""
        for layer in self.stem:
            norm = layer.norm if layer.with_norm else None
            if (not isinstance(norm, _BatchNorm) or norm.training or not norm.affine
                    or norm.running_var is None or not records_no_graph(x, *layer.parameters())
                    or torch.is_autocast_enabled(x.device.type)):
                x = layer(x)
                continue
            x = layer.conv(x)
            scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
            x.mul_(scale.view(1, -1, 1, 1)).add_(
                (norm.bias - norm.running_mean * scale).view(1, -1, 1, 1))
            if layer.with_activation:
                x = activate(layer.activate, x)
        return x

    def _check_out_indices(self, out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        resolved = []
        for index in out_indices:
            position = index + self.num_stages if index < 0 else index
            if not 0 <= position < self.num_stages:
                raise ValueError(f'out_indices entry {index} is outside 0..{self.num_stages - 1}')
            resolved.append(position)
        return tuple(resolved)

    def extra_repr(self) -> str:
        return (f"arch={self.arch_settings['name']!r}, layout={','.join(self.layout)!r}, "
                f'early_fusion={self.early_fusion is not None}, '
                f'out_indices={self.out_indices}')

    def layout_summary(self) -> str:
        """A table of stages: resolution, channels, heads and the mixer of every layer."""
        rows = ['stage  stride  channels  heads  layout   mixers']
        for index, letters in enumerate(self.layout):
            blocks = self.stages[index].blocks
            names = ' '.join(dict.fromkeys(type(block.mixer).__name__ for block in blocks))
            rows.append(f'{index + 1:>5}  {2**(index + 2):>6}  {self.embed_dims[index]:>8}  '
                        f'{self.num_heads[index]:>5}  {letters:<8} {names}')
        num_softmax = sum(not self.stages[i].blocks[j].mixer.is_linear
                          for i, letters in enumerate(self.layout) for j in range(len(letters)))
        rows.append(f'{num_softmax} of {sum(self.depths)} layers use quadratic (global) attention; '
                    f'early fusion: {"on" if self.early_fusion is not None else "off"}')
        return '\n'.join(rows)

    @staticmethod
    def _pretrained_cfg(init_cfg: Optional[Union[dict, List[dict]]]) -> Optional[dict]:
        """The ``Pretrained`` entry of ``init_cfg``, if any."""
        cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
        return next((cfg for cfg in cfgs if isinstance(cfg, dict)
                     and cfg.get('type') in ('Pretrained', 'PretrainedInit')), None)

    def init_weights(self) -> None:
        """Default initialisation, or the ``Pretrained`` checkpoint through MMEngine."""
        pretrained = self._pretrained_cfg(self.init_cfg)
        try:
            super().init_weights()
        except CheckpointMismatchError as error:
            raise CheckpointMismatchError(
                f"{error} (checkpoint {pretrained['checkpoint']}, "
                f"prefix {pretrained.get('prefix')!r})") from None
        if pretrained is None and self.init_cfg is None:
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    trunc_normal_(module.weight, std=0.02)
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)
        self._freeze_stages()

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict,
                              *args, **kwargs) -> None:
        """Upgrade keys of older checkpoints; refuse a state dict that matches no key.

        Runs on every load path (``init_cfg``, ``load_from``, resume, ``tools/test.py``).
        """
        version = local_metadata.get('version') or 1
        for newer in sorted(v for v in self.key_renames if v > version):
            for old, new in self.key_renames[newer]:
                if prefix + old in state_dict:
                    state_dict[prefix + new] = state_dict.pop(prefix + old)
                    print_log(f'{type(self).__name__}: checkpoint key {prefix + old} (version '
                              f'{version}) loaded as {prefix + new}', logger='current')
        own_keys = {prefix + name for name in self.state_dict()}
        if not own_keys.intersection(state_dict):
            sample = ', '.join(list(state_dict)[:5]) or 'no keys'
            hint = (" (its keys start with 'backbone.': set prefix='backbone.')"
                    if any(k.startswith('backbone.') for k in state_dict) else '')
            raise CheckpointMismatchError(
                f'the state dict matches none of the {len(own_keys)} keys of '
                f'{type(self).__name__}; its keys start with: {sample}{hint}')
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} takes (B, {self.in_channels}, H, W) images '
                             f'(in_channels={self.in_channels}), got shape {tuple(x.shape)}')
        # Channels-last memory from the stem on: every later (B, H, W, C) view is then
        # contiguous, and the convolutions keep that memory format.
        x = _to_channels_last(self._stem_forward(x.contiguous(memory_format=torch.channels_last)))
        stage_outputs: List[torch.Tensor] = []
        outputs = []
        for index, stage in enumerate(self.stages):
            injection = None
            if index == self.fusion_target:
                height, width = -(-x.shape[1] // 2), -(-x.shape[2] // 2)
                injection = self.early_fusion([stage_outputs[s] for s in self.fusion_sources],
                                              (height, width))
            x = stage(x, injection)
            stage_outputs.append(x)
            if index in self.out_indices:
                norm = getattr(self, f'norm{index}')
                out = x if norm is None else norm(x)
                outputs.append(_to_channels_first(out).contiguous())
        return tuple(outputs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen: List[nn.Module] = [self.stem]
        frozen += [self.stages[i] for i in range(self.frozen_stages)]
        frozen += [getattr(self, f'norm{i}') for i in self.out_indices
                   if i < self.frozen_stages and self.norm_outputs]
        if self.early_fusion is not None and self.fusion_target < self.frozen_stages:
            frozen.append(self.early_fusion)
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'SoLAVision':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Depth of a parameter for layer-wise learning-rate decay.

        The stem is layer 0, block ``j`` of stage ``i`` is ``sum(depths[:i]) + j + 1``; a stage's
        downsampling (and the early-fusion module of its target stage) shares the depth of the
        stage's first block; output norms and anything outside the backbone (heads, necks) get
        the last depth.

        Args:
            param_name: the full parameter name, e.g. ``'backbone.stages.2.blocks.3.ffn.fc1.weight'``.
            prefix: the backbone's prefix in ``param_name``.

        Returns:
            tuple[int, int]: the layer depth and the total number of depths,
            ``sum(depths) + 2``.
        """
        num_layers = sum(self.depths) + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        parts = name.split('.')
        if parts[0] == 'stem':
            return 0, num_layers
        if parts[0] == 'stages':
            stage = int(parts[1])
            first_block = sum(self.depths[:stage]) + 1
            if parts[2] == 'blocks':
                return first_block + int(parts[3]), num_layers
            return first_block, num_layers
        if parts[0] == 'early_fusion':
            return sum(self.depths[:self.fusion_target]) + 1, num_layers
        return num_layers - 1, num_layers
