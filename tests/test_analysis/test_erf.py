"""ERF tool: exact supports of a convolution and of global attention, radius arithmetic, CLI."""
import importlib.util
import json
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from mmsola.analysis.erf import (build_backbone_from_config, compute_erf, describe_sola_layers,
                                 erf_area_share, erf_radius, erf_stats, fit_sqrt_depth,
                                 make_erf_images, sola_layer_names)
from mmsola.models.attention import MagnitudeAwareLinearAttention, SoftmaxAttention


class OneConv(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 5, padding=2)

    def forward(self, x):
        return self.conv(x)


class TokenMixerNet(nn.Module):
    """Identity-position tokens (a 1 x 1 projection), then one attention mixer, channels-last."""

    def __init__(self, mixer_cls) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 1)
        self.mixer = mixer_cls(8, 2)

    def forward(self, x):
        return self.mixer(self.embed(x).permute(0, 2, 3, 1))


@pytest.mark.parametrize('size', [15, 16])
def test_conv_erf_is_exactly_its_kernel_support(size):
    torch.manual_seed(0)
    model = OneConv().train()
    erf = compute_erf(model, ['conv'], torch.randn(2, 3, size, size))['conv']
    assert erf.shape == (size, size)
    centre = size // 2  # the centre output's window starts 2 pixels before it
    window = (slice(centre - 2, centre + 3), ) * 2
    support = torch.zeros(size, size, dtype=torch.bool)
    support[window] = True
    assert (erf[support] > 0).all() and (erf[~support] == 0).all()
    # d(sum_o out[o, c0, c0]) / dx[c, c0 - 2 + u, c0 - 2 + v] = sum_o w[o, c, u, v]
    expected = model.conv.weight.detach().sum(0).abs().sum(0)
    torch.testing.assert_close(erf[window], expected)
    # eval mode during the measurement, the caller's mode and requires_grad restored
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_channels_last_feature_format():
    torch.manual_seed(0)

    class ChannelsLast(OneConv):

        def forward(self, x):
            return self.head(self.conv(x).permute(0, 2, 3, 1))

    model = ChannelsLast()
    model.head = nn.Identity()
    images = torch.randn(1, 3, 11, 11)
    as_nchw = compute_erf(model, 'conv', images)['conv']
    as_nhwc = compute_erf(model, 'head', images, feature_format={'head': 'NHWC'})['head']
    torch.testing.assert_close(as_nchw, as_nhwc)


@pytest.mark.parametrize('mixer_cls', [SoftmaxAttention, MagnitudeAwareLinearAttention])
def test_one_global_attention_layer_spans_the_whole_input(mixer_cls):
    torch.manual_seed(0)
    images = torch.randn(2, 3, 12, 12)
    attention = compute_erf(TokenMixerNet(mixer_cls), ['mixer'], images, 'NHWC')['mixer']
    assert (attention > 0).all()

    convs = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GELU(), nn.Conv2d(8, 8, 3, padding=1))
    local = compute_erf(convs, ['2'], images)['2']
    assert (local[4:9, 4:9] > 0).all()
    assert local.count_nonzero() == 25
    assert erf_radius(attention, 0.9) > erf_radius(local, 0.9)


def test_unknown_layer_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"\['nope'\].*valid names include: conv"):
        compute_erf(OneConv(), ['conv', 'nope'], torch.randn(1, 3, 8, 8))


def test_radius_of_synthetic_maps():
    delta = torch.zeros(9, 9)
    delta[4, 4] = 1
    assert erf_radius(delta, 0.5) == 0 and erf_radius(delta, 0.9) == 0
    assert erf_area_share(delta, 0.9) == pytest.approx(1 / 81)
    off_centre = torch.zeros(9, 9)
    off_centre[2, 7] = 3
    assert erf_radius(off_centre) == 0  # measured around the centre of mass by default
    assert erf_radius(off_centre, centre=(4, 4)) == 3

    uniform = torch.ones(9, 9)  # squares of half-width r hold (2r + 1)^2 of 81 pixels
    assert erf_radius(uniform, 0.5) == 3  # 25 < 40.5 <= 49
    assert erf_radius(uniform, 0.9) == 4  # 49 < 72.9 <= 81
    assert erf_radius(uniform, 0.5, shape='disc') == pytest.approx(13**0.5)  # 37 < 40.5 <= 45
    assert erf_area_share(uniform, 0.5) == pytest.approx(41 / 81)
    assert erf_radius(torch.ones(10, 10), 0.5) == 3.5  # centre between pixels: 36 < 50 <= 64

    block = torch.zeros(21, 21)
    block[8:13, 8:13] = 2.0
    assert erf_radius(block, 1.0) == 2  # a k x k block: (k - 1) / 2
    stats = erf_stats(block, (0.5, 0.9))
    assert stats['centre'] == [10, 10] and stats['radius'] == {'0.5': 2, '0.9': 2}
    assert stats['square_area_share']['0.5'] == pytest.approx(25 / 441, abs=1e-5)


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


def test_sqrt_fit():
    depths = [1, 2, 4, 9]
    assert fit_sqrt_depth(depths, [3 * d**0.5 for d in depths]) == pytest.approx(3)


def test_sola_layer_description():
    from mmsola.models import SoLAVision
    backbone = SoLAVision(
        arch=dict(embed_dims=(16, 16, 32, 32), depths=(1, 1, 3, 1), num_heads=(1, 1, 2, 2)))
    names = sola_layer_names(backbone)
    assert names[2:5] == ['stages.2.blocks.0', 'stages.2.blocks.1', 'stages.2.blocks.2']
    described = describe_sola_layers(backbone, names + ['stages.3', 'stem'])
    assert [(d['depth'], d['letter']) for d in described] == [(1, 'L'), (2, 'L'), (3, 'L'),
                                                             (4, 'L'), (5, 'S'), (6, 'S'),
                                                             (6, 'S'), (0, None)]


def test_config_without_backbone_is_refused(tmp_path):
    config = tmp_path / 'no_backbone.py'
    config.write_text("default_scope = 'mmpretrain'\nmodel = dict(type='ImageClassifier')\n")
    with pytest.raises(ValueError, match='no model.backbone'):
        build_backbone_from_config(str(config))


def test_images_from_a_folder_are_resized_and_normalised(tmp_path):
    import mmcv
    (tmp_path / 'sub').mkdir()
    mmcv.imwrite(np.full((20, 30, 3), (0, 100, 200), np.uint8), str(tmp_path / 'a.png'))
    mmcv.imwrite(np.zeros((10, 10, 3), np.uint8), str(tmp_path / 'sub' / 'b.jpg'))
    images, files = make_erf_images(5, (8, 12), str(tmp_path), mean=[100] * 3, std=[100] * 3,
                                    to_rgb=True)
    assert images.shape == (2, 3, 8, 12) and len(files) == 2
    torch.testing.assert_close(images[0, :, 4, 6], torch.tensor([1.0, 0.0, -1.0]))  # BGR -> RGB
    with pytest.raises(FileNotFoundError, match='--data-dir'):
        make_erf_images(1, (8, 8), str(tmp_path / 'missing'))


def test_checkpoint_is_loaded_into_the_backbone(repo_root, tmp_path):
    config = os.path.join(repo_root, 'configs', 'demo', 'sola-mini_shapes.py')
    backbone, _ = build_backbone_from_config(config, seed=0)
    state = {f'backbone.{k}': v + 1 for k, v in backbone.state_dict().items()
             if v.is_floating_point()}
    torch.save(dict(state_dict=state), tmp_path / 'model.pth')
    loaded, _ = build_backbone_from_config(config, checkpoint=str(tmp_path / 'model.pth'))
    torch.testing.assert_close(loaded.stem[0].conv.weight, backbone.stem[0].conv.weight + 1)
    with pytest.raises(FileNotFoundError, match='--checkpoint'):
        build_backbone_from_config(config, checkpoint=str(tmp_path / 'missing.pth'))


@pytest.fixture(scope='module')
def erf_tool():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = importlib.util.spec_from_file_location(
        'erf_tool', os.path.join(root, 'tools', 'analysis', 'erf.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_writes_maps_plot_and_json(erf_tool, repo_root, tmp_path):
    config = os.path.join(repo_root, 'configs', 'demo', 'sola-mini_shapes.py')
    erf_tool.main([config, '--image-size', '64', '64', '--num-images', '2', '--out-dir',
                   str(tmp_path)])
    blocks = ['stages.0.blocks.0', 'stages.1.blocks.0', 'stages.2.blocks.0',
              'stages.2.blocks.1', 'stages.2.blocks.2', 'stages.3.blocks.0']
    for name in blocks:
        assert (tmp_path / f'erf_{name}.png').stat().st_size > 0
    for name in ('erf_grid.png', 'erf_radius.png'):
        assert (tmp_path / name).stat().st_size > 0
    result = json.loads((tmp_path / 'erf.json').read_text())
    assert result['image_size'] == [64, 64] and result['num_images'] == 2 and result['date']
    layers = result['runs'][0]['layers']
    assert [l['name'] for l in layers] == blocks
    assert [l['letter'] for l in layers] == ['L', 'L', 'L', 'L', 'S', 'S']
    radii = [l['radius']['0.5'] for l in layers]
    assert 0 < radii[0] < radii[-1] <= 32


def test_cli_compares_layouts(erf_tool, repo_root, tmp_path):
    config = os.path.join(repo_root, 'configs', 'demo', 'sola-mini_shapes.py')
    result = erf_tool.main([
        config, '--image-size', '32', '32', '--num-images', '1', '--layers', 'stages',
        '--compare-layouts', 'sola', 'linear', '--out-dir', str(tmp_path)])
    assert [run['label'] for run in result['runs']] == ['sola', 'linear']
    for layout in ('sola', 'linear'):
        assert (tmp_path / layout / 'erf_stages.3.png').is_file()
        assert (tmp_path / layout / 'erf_grid.png').is_file()
    assert (tmp_path / 'erf_radius.png').is_file()
    sola, linear = ([l['radius']['0.5'] for l in run['layers']] for run in result['runs'])
    # same seed: the all-linear stages 1-2 have the same weights and the same ERF
    assert sola[:2] == linear[:2]
    assert [l['letter'] for l in result['runs'][1]['layers']] == ['L'] * 4


def test_cli_loads_one_checkpoint_per_layout(erf_tool, repo_root, tmp_path):
    config = os.path.join(repo_root, 'configs', 'demo', 'sola-mini_shapes.py')
    files = []
    for layout, noise in (('sola', 0.0), ('linear', 1.0)):
        backbone, _ = build_backbone_from_config(
            config, {'model.backbone.layout': layout}, seed=0)
        state = {f'backbone.{k}': v + noise * torch.randn_like(v) if 'stages.0' in k else v
                 for k, v in backbone.state_dict().items() if v.is_floating_point()}
        files.append(str(tmp_path / f'{layout}.pth'))
        torch.save(dict(state_dict=state), files[-1])
    common = [config, '--image-size', '32', '32', '--num-images', '1', '--layers', 'stages',
              '--compare-layouts', 'sola', 'linear', '--out-dir', str(tmp_path / 'out')]
    result = erf_tool.main(common + ['--checkpoints'] + files)
    assert [run['checkpoint'] for run in result['runs']] == files
    sola, linear = ([l['radius']['0.5'] for l in run['layers']] for run in result['runs'])
    assert sola[:2] != linear[:2]  # the linear layout's stage 1 was perturbed
    with pytest.raises(ValueError, match='one per layout'):
        erf_tool.main(common + ['--checkpoints', files[0]])
