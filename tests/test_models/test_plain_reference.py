"""The backbone's fast paths against a plain formulation of the same model on the same weights.

The backbone folds, fuses and reorders for speed: the downsampling BatchNorms are folded into
their convolutions in eval mode, layer scales into the projections, residual additions into
in-place products, the feature map is taken through exp2, queries and keys are projected in
adjacent rotation pairs and rotated by complex products, the linear attention never builds its
N x N weights. :func:`plain_forward` below does none of that: it reads the parameters and
evaluates the model as the papers write it (elu + 1, rotate-half rotary encoding with its own
angle table, explicit N x N attention weights, BatchNorm after each convolution, separate
residual additions). Both must agree within 1e-5 in float32, in eval and in training mode
(batch statistics), for the outputs and every parameter's gradient.
"""
import pytest
import torch
import torch.nn.functional as F

from mmsola.models import SoLAVision
from mmsola.models.attention import (ELULinearAttention, MagnitudeAwareLinearAttention,
                                     RankAugmentedLinearAttention, SoftmaxAttention)

#: Every mixer letter, both normalisers, early fusion, layer scale in every stage.
ARCH = dict(embed_dims=(16, 16, 32, 32), depths=(1, 2, 3, 2), num_heads=(1, 1, 2, 2))
LAYOUT = ('L', 'LE', 'RSL', 'LS')
MIXERS = {'E': dict(type='mmsola.ELULinearAttention', normaliser='unrotated')}
TOLERANCE = 1e-5


def plain_conv_norm(module, x, training):
    """mmcv ConvModule conv -> BatchNorm -> activation, written out."""
    conv, norm = module.conv, module.norm
    x = F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding)
    if training:  # batch statistics; the running ones are left alone
        x = F.batch_norm(x, None, None, norm.weight, norm.bias, True, 0.0, norm.eps)
    else:
        x = F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, False,
                         0.0, norm.eps)
    return F.gelu(x) if module.with_activation else x


def plain_layer_norm(norm, x):
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def plain_rotary_angles(height, width, head_dims, base=10000.0):
    """(N, d) angles: a quarter of the frequencies for rows, a quarter for columns, each pair
    (i, i + d/2) sharing its angle."""
    quarter = head_dims // 4
    inv_freq = base**(-torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(torch.arange(height, dtype=torch.float64),
                                torch.arange(width, dtype=torch.float64), indexing='ij')
    half = torch.cat((rows.reshape(-1, 1) * inv_freq, cols.reshape(-1, 1) * inv_freq), dim=1)
    return torch.cat((half, half), dim=1)


def plain_rotate(x, angles):
    first, second = x.chunk(2, dim=-1)
    return x * angles.cos().to(x.dtype) + torch.cat((-second, first), -1) * angles.sin().to(
        x.dtype)


def plain_pair_norms(x):
    first, second = x.chunk(2, dim=-1)
    return torch.sqrt(first**2 + second**2)


def plain_attention(mixer, q, k, v, angles):
    """Explicit (B, h, N, N) weights of every core, then weights @ v."""
    num_tokens, dims = k.shape[-2:]
    scale = dims**-0.5
    if isinstance(mixer, SoftmaxAttention):
        rq, rk = plain_rotate(q, angles), plain_rotate(k, angles)
        return torch.softmax(rq @ rk.transpose(-2, -1) * scale, dim=-1) @ v
    fq, fk = F.elu(q) + 1, F.elu(k) + 1
    if isinstance(mixer, RankAugmentedLinearAttention):
        asked = fq.mean(-2, keepdim=True) @ fk.transpose(-2, -1) * scale  # (B, h, 1, N)
        fk = fk * torch.softmax(asked, dim=-1).transpose(-2, -1) * num_tokens
    unrotated = (fq @ fk.transpose(-2, -1)).mean(-1, keepdim=True)  # (B, h, N, 1)
    if mixer.normaliser == 'pair_norm':
        norm = (plain_pair_norms(fq) @ plain_pair_norms(fk).transpose(-2, -1)).mean(
            -1, keepdim=True)
    else:
        norm = unrotated
    products = plain_rotate(fq, angles) @ plain_rotate(fk, angles).transpose(-2, -1)
    if isinstance(mixer, MagnitudeAwareLinearAttention):
        beta = 1 + 1 / (scale * norm + 1e-6)
        weights = (beta * scale * products - scale * unrotated) / num_tokens
    else:
        assert isinstance(mixer, (ELULinearAttention, RankAugmentedLinearAttention))
        weights = products / num_tokens / (norm + 1e-6)
    return weights @ v


def plain_mixer(mixer, x, angles):
    batch, channels, height, width = x.shape
    heads, dims = mixer.num_heads, mixer.head_dims
    tokens = x.flatten(2).transpose(1, 2)  # (B, N, C)
    qkvg = F.linear(tokens, mixer.qkvg.weight, mixer.qkvg.bias)
    q, k, v, gate = (part.reshape(batch, -1, heads, dims).transpose(1, 2)
                     for part in qkvg.chunk(4, dim=-1))  # (B, h, N, d)
    attended = plain_attention(mixer, q, k, v, angles).transpose(1, 2).reshape(
        batch, -1, channels)
    v_map = v.transpose(1, 2).reshape(batch, height, width, channels).permute(0, 3, 1, 2)
    lepe = F.conv2d(v_map, mixer.lepe.weight, mixer.lepe.bias,
                    padding=mixer.lepe.padding, groups=channels).flatten(2).transpose(1, 2)
    out = F.linear((attended + lepe) * mixer.gate_act(gate.transpose(1, 2).reshape(
        batch, -1, channels)), mixer.proj.weight, mixer.proj.bias)
    return out.transpose(1, 2).reshape(batch, channels, height, width)


def plain_block(block, x, angles):
    """x (B, C, H, W) -> (B, C, H, W)."""
    channels = x.shape[1]
    x = x + F.conv2d(x, block.cpe.weight, block.cpe.bias, padding=1, groups=channels)
    as_tokens = lambda t: t.permute(0, 2, 3, 1)  # noqa: E731
    as_map = lambda t: t.permute(0, 3, 1, 2)  # noqa: E731
    mixed = plain_mixer(block.mixer, as_map(plain_layer_norm(block.norm1, as_tokens(x))), angles)
    x = x + block.gamma1.view(1, -1, 1, 1) * mixed
    ffn = block.ffn
    hidden = F.gelu(F.linear(plain_layer_norm(block.norm2, as_tokens(x)), ffn.fc1.weight,
                             ffn.fc1.bias))
    hidden = as_map(hidden)
    hidden = hidden + F.conv2d(hidden, ffn.dwconv.weight, ffn.dwconv.bias, padding=1,
                               groups=hidden.shape[1])
    out = F.linear(as_tokens(hidden), ffn.fc2.weight, ffn.fc2.bias)
    return x + block.gamma2.view(1, -1, 1, 1) * as_map(out)


def plain_forward(model, x, training):
    for layer in model.stem:
        x = plain_conv_norm(layer, x, training)
    stage_outputs, outputs = [], []
    for index, stage in enumerate(model.stages):
        if stage.downsample is not None:
            x = plain_conv_norm(stage.downsample, x, training)
        if index == model.fusion_target:
            fusion = model.early_fusion
            for slot, source in enumerate(model.fusion_sources):
                conv = fusion.reducers[slot]
                reduced = F.conv2d(stage_outputs[source], conv.weight, conv.bias, conv.stride,
                                   conv.padding, groups=conv.groups)
                tokens = plain_layer_norm(fusion.norms[slot], reduced.permute(0, 2, 3, 1))
                projected = F.linear(tokens, fusion.projections[slot].weight,
                                     fusion.projections[slot].bias)
                x = x + (fusion.scales[slot] * projected).permute(0, 3, 1, 2)
        angles = plain_rotary_angles(*x.shape[2:], stage.rotary.head_dim).to(x.dtype)
        for block in stage.blocks:
            x = plain_block(block, x, angles)
        stage_outputs.append(x)
        norm = getattr(model, f'norm{index}')
        outputs.append(plain_layer_norm(norm, x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
    return outputs


def trained_looking_model(dtype=torch.float32):
    """Random weights everywhere (layer scales, fusion scales, BatchNorm statistics), so no
    branch of the model is a no-op."""
    torch.manual_seed(0)
    model = SoLAVision(arch=ARCH, layout=LAYOUT, mixers=MIXERS, out_indices=(0, 1, 2, 3),
                       layer_scale_init=0.5, drop_path_rate=0.0)
    model.init_weights()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'gamma' in name or 'scales' in name:
                param.uniform_(0.2, 1.0)
            elif name.endswith('bias'):
                param.normal_(0, 0.1)
        for buffer_name, buffer in model.named_buffers():
            if buffer_name.endswith('running_mean'):
                buffer.normal_(0, 0.2)
            elif buffer_name.endswith('running_var'):
                buffer.uniform_(0.5, 2.0)
    return model.to(dtype)


def max_error(got, want):
    return max((g - w).abs().max().item() for g, w in zip(got, want))


@pytest.mark.parametrize('grad', [False, True], ids=['no_grad', 'grad'])
def test_eval_outputs_match_the_plain_formulation(grad):
    model = trained_looking_model().eval()
    x = torch.randn(2, 3, 64, 48)
    with torch.set_grad_enabled(grad):
        got = model(x)
        want = plain_forward(model, x, training=False)
    assert max_error(got, want) <= TOLERANCE, max_error(got, want)
    with torch.inference_mode():  # the in-place path of inference mode
        assert max_error(model(x), want) <= TOLERANCE


def test_training_outputs_and_gradients_match_the_plain_formulation():
    model = trained_looking_model().train()
    x = torch.randn(2, 3, 64, 48)
    got = model(x)
    want = plain_forward(model, x, training=True)
    assert max_error(got, want) <= TOLERANCE, max_error(got, want)
    weights = [torch.randn_like(out) for out in got]
    loss = lambda outs: sum((o * w).sum() for o, w in zip(outs, weights))  # noqa: E731
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss(got), params)
    want_grads = torch.autograd.grad(loss(want), params)
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    for name, g, w in zip(names, grads, want_grads):
        error = (g - w).abs().max().item() / max(w.abs().max().item(), 1.0)
        assert error <= TOLERANCE, (name, error)


def test_float64_agrees_to_rounding():
    """In float64 the two formulations agree to 1e-10: they are the same function."""
    model = trained_looking_model(torch.float64).eval()
    x = torch.randn(1, 3, 40, 56, dtype=torch.float64)
    with torch.no_grad():
        assert max_error(model(x), plain_forward(model, x, training=False)) <= 1e-10


def test_the_comparison_sees_a_wrong_rotation_pairing():
    """The comparison can fail: rotating the projection's own channel order as adjacent pairs
    (without the reordering) is seen."""
    model = trained_looking_model().eval()
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        want = plain_forward(model, x, training=False)
        for module in model.modules():
            if hasattr(module, 'adjacent_pair_order'):
                module.adjacent_pair_order = torch.arange(len(module.adjacent_pair_order))
        assert max_error(model(x), want) > 1e-3
