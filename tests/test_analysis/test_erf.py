"""ERF: exact supports of convolutions and of global attention, radius arithmetic, the CLI."""
import importlib.util
import json
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from mmsola.analysis.erf import (backbone_layers, compute_erf, erf_images, erf_radius,
                                 sqrt_depth_fits)
from mmsola.apis import init_model
from mmsola.models.attention import MagnitudeAwareLinearAttention, SoftmaxAttention


class ChannelsLast(nn.Module):
    """Wraps a (B, C, H, W) -> (B, C, h, w) module so that it outputs (B, h, w, C)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module(x).permute(0, 2, 3, 1)


class TokenMixerNet(nn.Module):
    """A 1 x 1 embedding (no spatial mixing), then one attention mixer, channels-last."""

    def __init__(self, mixer_cls) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 1)
        self.mixer = mixer_cls(8, 2)

    def forward(self, x):
        return self.mixer(self.embed(x).permute(0, 2, 3, 1))


@pytest.mark.parametrize('size', [15, 16])
def test_conv_erf_is_exactly_its_kernel_support(size):
    torch.manual_seed(0)
    # dropout is the identity in eval mode only
    model = ChannelsLast(nn.Sequential(nn.Conv2d(3, 4, 5, padding=2), nn.Dropout(0.9))).train()
    erf = compute_erf(model, [''], torch.randn(2, 3, size, size))['']
    assert erf.shape == (size, size)
    centre = size // 2
    window = (slice(centre - 2, centre + 3), ) * 2
    support = torch.zeros(size, size, dtype=torch.bool)
    support[window] = True
    assert (erf[support] > 0).all() and (erf[~support] == 0).all()
    # d(sum_o out[o, c0, c0]) / dx[c, c0 - 2 + u, c0 - 2 + v] = sum_o w[o, c, u, v]
    expected = model.module[0].weight.detach().sum(0).abs().sum(0)
    torch.testing.assert_close(erf[window], expected)
    # the caller's mode and requires_grad come back
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_stacked_convs_reach_exactly_the_sum_of_their_half_widths():
    torch.manual_seed(0)
    stack = ChannelsLast(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GELU(),
                                       nn.Conv2d(8, 8, 3, padding=1)))
    erf = compute_erf(stack, [''], torch.randn(2, 3, 12, 12))['']
    assert (erf[4:9, 4:9] > 0).all() and erf.count_nonzero() == 25


@pytest.mark.parametrize('mixer_cls', [SoftmaxAttention, MagnitudeAwareLinearAttention])
def test_one_global_attention_layer_reaches_every_pixel(mixer_cls):
    torch.manual_seed(0)
    erf = compute_erf(TokenMixerNet(mixer_cls), ['mixer'], torch.randn(2, 3, 12, 12))['mixer']
    assert (erf > 0).all()
    assert erf_radius(erf, 0.9) > 2  # beyond the 5 x 5 window of the value convolution


def test_unknown_layer_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        compute_erf(ChannelsLast(nn.Conv2d(3, 4, 3)), ['nope'], torch.randn(1, 3, 8, 8))


def test_radius_of_synthetic_maps():
    delta = torch.zeros(9, 9)
    delta[4, 4] = 1
    assert erf_radius(delta, 0.5) == 0 and erf_radius(delta, 0.9) == 0
    off_centre = torch.zeros(9, 9)
    off_centre[2, 7] = 3
    assert erf_radius(off_centre) == 0  # measured around the centre of mass by default
    assert erf_radius(off_centre, centre=(4, 4)) == 3
    uniform = torch.ones(9, 9)  # squares of half-width r hold (2r + 1)^2 of 81 pixels
    assert erf_radius(uniform, 0.5) == 3  # 25 < 40.5 <= 49
    assert erf_radius(uniform, 0.9) == 4  # 49 < 72.9 <= 81
    assert erf_radius(torch.ones(10, 10), 0.5) == 3.5  # centre between pixels: 36 < 50 <= 64
    block = torch.zeros(21, 21)
    block[8:13, 8:13] = 2.0
    assert erf_radius(block, 1.0) == 2  # a k x k block: (k - 1) / 2
    block[10, 10] = 200.0  # 200 of 248 in the centre pixel, 216 within half-width 1
    assert erf_radius(block, 0.8) == 0 and erf_radius(block, 0.85) == 1
    assert erf_radius(block, 0.9) == 2


@pytest.mark.parametrize('bad', [
    dict(erf_map=torch.ones(4, 4), mass=0),
    dict(erf_map=torch.ones(4, 4), mass=1.5),
    dict(erf_map=torch.zeros(4, 4)),
    dict(erf_map=-torch.ones(4, 4)),
    dict(erf_map=torch.ones(2, 4, 4)),
])
def test_radius_rejects_bad_input(bad):
    with pytest.raises(ValueError, match='mass|erf_map'):
        erf_radius(**bad)


def test_sqrt_fit_uses_the_linear_layers_below_the_first_softmax_layer():
    def layer(depth, radius, linear=True):
        return dict(depth=depth, linear=linear, radius={'0.5': radius, '0.9': 2 * radius})

    runs = [dict(layers=[layer(d, 3 * d**0.5) for d in (1, 4)] + [layer(9, 100, False),
                                                                 layer(16, 100)]),
            dict(layers=[layer(9, 100, False)])]
    assert sqrt_depth_fits(runs) == pytest.approx({'0.5': 3, '0.9': 6})
    assert sqrt_depth_fits(runs[1:]) == {'0.5': None, '0.9': None}


def test_backbone_layers():
    from mmsola.models import SoLAVision
    backbone = SoLAVision(
        arch=dict(embed_dims=(16, 16, 32, 32), depths=(1, 1, 3, 1), num_heads=(1, 1, 2, 2)))
    blocks = backbone_layers(backbone)
    assert [b['name'] for b in blocks[2:5]] == [f'stages.2.blocks.{j}' for j in range(3)]
    assert [(b['depth'], b['letter'], b['linear']) for b in blocks] == [
        (1, 'L', True), (2, 'L', True), (3, 'L', True), (4, 'L', True), (5, 'S', False),
        (6, 'S', False)]
    stages = backbone_layers(backbone, 'stages')
    assert [(s['name'], s['depth'], s['letter'], s['linear']) for s in stages] == [
        ('stages.0', 1, 'L', True), ('stages.1', 2, 'L', True), ('stages.2', 5, 'LLS', False),
        ('stages.3', 6, 'S', False)]
    with pytest.raises(ValueError, match='--layers'):
        backbone_layers(backbone, 'stem')


def test_images_from_a_folder_are_resized_and_normalised(tmp_path):
    import mmcv
    (tmp_path / 'sub').mkdir()
    mmcv.imwrite(np.full((20, 30, 3), (0, 100, 200), np.uint8), str(tmp_path / 'a.png'))
    mmcv.imwrite(np.zeros((10, 10, 3), np.uint8), str(tmp_path / 'sub' / 'b.jpg'))
    images = erf_images(5, (8, 12), str(tmp_path),
                        dict(mean=[100] * 3, std=[100] * 3, to_rgb=True))
    assert images.shape == (2, 3, 8, 12)
    torch.testing.assert_close(images[0, :, 4, 6], torch.tensor([1.0, 0.0, -1.0]))  # BGR -> RGB
    with pytest.raises(FileNotFoundError, match='missing'):
        erf_images(1, (8, 8), str(tmp_path / 'missing'))


@pytest.fixture(scope='module')
def erf_tool():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = importlib.util.spec_from_file_location(
        'vis_erf', os.path.join(root, 'tools', 'visualization', 'vis_erf.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny_config(repo_root):
    return os.path.join(repo_root, 'configs', 'demo', 'sola-mini_shapes.py')


def test_cli_writes_grid_plot_and_json(erf_tool, tiny_config, tmp_path):
    assert erf_tool.main([tiny_config, '--image-size', '64', '64', '--num-images', '2',
                          '--out-dir', str(tmp_path)]) == 0
    for name in ('erf_grid.png', 'erf_radius.png'):
        assert (tmp_path / name).stat().st_size > 0
    result = json.loads((tmp_path / 'erf.json').read_text())
    assert result['image_size'] == [64, 64] and result['num_images'] == 2
    layers = result['runs'][0]['layers']
    assert [layer['depth'] for layer in layers] == [1, 2, 3, 4, 5, 6]
    assert [layer['letter'] for layer in layers] == ['L', 'L', 'L', 'L', 'S', 'S']
    radii = [layer['radius']['0.5'] for layer in layers]
    assert 0 < radii[0] < radii[-1] <= 32
    assert set(result['sqrt_fit']) == {'0.5', '0.9'} and result['sqrt_fit']['0.5'] > 0


def test_cli_loads_one_checkpoint_per_layout(erf_tool, tiny_config, tmp_path, capsys):
    files = []
    for layout, noise in (('sola', 0.0), ('linear', 1.0)):
        torch.manual_seed(0)
        model = init_model(tiny_config, cfg_options={'model.backbone.layout': layout})
        state = {key: value + noise * torch.randn_like(value) if 'backbone.stages.0' in key
                 and value.is_floating_point() else value
                 for key, value in model.state_dict().items()}
        files.append(str(tmp_path / f'{layout}.pth'))
        torch.save(dict(state_dict=state), files[-1])
    common = [tiny_config, '--image-size', '32', '32', '--num-images', '1', '--layers',
              'stages', '--compare-layouts', 'sola', 'linear', '--out-dir', str(tmp_path / 'out')]

    def stage_radii():
        result = json.loads((tmp_path / 'out' / 'erf.json').read_text())
        return result, [[layer['radius']['0.5'] for layer in run['layers']]
                        for run in result['runs']]

    assert erf_tool.main(common) == 0  # random init, same seed: stages 1-2 agree
    _, (sola, linear) = stage_radii()
    assert sola[:2] == linear[:2]
    assert erf_tool.main(common + ['--checkpoints'] + files) == 0
    result, (sola, linear) = stage_radii()
    assert [run['checkpoint'] for run in result['runs']] == files
    assert [run['label'] for run in result['runs']] == ['sola', 'linear']
    assert sola[0] != linear[0]  # the linear layout's stage 1 was perturbed
    for layout in ('sola', 'linear'):
        assert (tmp_path / 'out' / f'erf_grid_{layout}.png').is_file()

    capsys.readouterr()
    assert erf_tool.main(common + ['--checkpoints', files[0]]) == 2
    assert '--checkpoints gives 1 file(s) for 2 --compare-layouts' in capsys.readouterr().err
    assert erf_tool.main(common + ['--checkpoints', files[0], 'missing.pth']) == 2
    assert 'missing.pth' in capsys.readouterr().err
