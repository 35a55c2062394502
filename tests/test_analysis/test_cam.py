"""EigenCAM: the map on a tiny SoLA-Vision, recovery of a known principal pattern, the overlay,
and tools/analysis/cam.py on the three demo configs (random weights, 64 x 64 images)."""
import importlib.util
import os

import numpy as np
import pytest
import torch

from mmsola.analysis.cam import (CAMInferencer, eigen_cam, overlay, principal_projection,
                                 run_cam)
from mmsola.models import SoLAVision

TINY_ARCH = dict(embed_dims=(16, 32, 64, 96), depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 6))
DEMO = ('sola-mini_shapes.py', 'mask-rcnn_sola-mini_fpn_shapes.py',
        'upernet_sola-mini_shapes.py')


def corr(a, b) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def blob(height=12, width=16, centre=(4.0, 11.0), sigma=2.5) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing='ij')
    return torch.exp(-((ys - centre[0])**2 + (xs - centre[1])**2) / (2 * sigma**2))


def synthetic(pattern, channels=24, batch=2, noise=0.01, seed=0):
    """Rank-one activations ``pattern * r`` (r a random channel vector) plus noise."""
    generator = torch.Generator().manual_seed(seed)
    vector = torch.randn(batch, channels, 1, 1, generator=generator)
    return pattern * vector + noise * torch.randn(batch, channels, *pattern.shape,
                                                  generator=generator)


def test_eigen_cam_on_tiny_sola_vision():
    torch.manual_seed(0)
    backbone = SoLAVision(arch=TINY_ARCH, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outputs = backbone(torch.randn(2, 3, 64, 64))
    for features in outputs[:3]:  # 16 x 16, 8 x 8, 4 x 4 positions
        cam = eigen_cam(features, (64, 64))
        assert cam.shape == (2, 64, 64)
        assert not torch.isnan(cam).any()
        assert cam.min() >= 0 and cam.max() <= 1
        assert torch.allclose(cam.flatten(1).max(dim=1).values, torch.ones(2))
    # A non-square output size is honoured as well.
    assert eigen_cam(outputs[1], (64, 48)).shape == (2, 64, 48)


def test_eigen_cam_recovers_known_pattern_whatever_the_svd_sign(monkeypatch):
    pattern = blob()
    features = synthetic(pattern)
    projection = principal_projection(features)
    for image in projection:
        assert corr(image, pattern) > 0.99  # right pattern, right sign
    cam = eigen_cam(features, pattern.shape)
    expected = (pattern - pattern.mean()).clamp_min(0)
    expected = expected / expected.max()
    for image in cam:
        assert corr(image, expected) > 0.99
        assert corr(image, pattern) > 0.8
    # Negated activations have the same magnitudes: the same map.
    assert torch.allclose(eigen_cam(-features, pattern.shape), cam, atol=1e-4)
    # An SVD that hands back the other sign of its singular vectors changes nothing.
    svd = torch.linalg.svd

    def flipped_svd(matrix, full_matrices=True):
        u, s, vh = svd(matrix, full_matrices=full_matrices)
        return -u, s, -vh

    monkeypatch.setattr(torch.linalg, 'svd', flipped_svd)
    assert torch.allclose(eigen_cam(features, pattern.shape), cam, atol=1e-4)


def test_eigen_cam_degenerate_maps_are_zeros():
    constant = torch.ones(1, 8, 5, 7)
    single = torch.randn(2, 8, 1, 1)
    for features in (constant, single):
        cam = eigen_cam(features, (20, 28))
        assert cam.shape == (features.shape[0], 20, 28)
        assert torch.equal(cam, torch.zeros_like(cam))
    with pytest.raises(ValueError, match=r'\(B, C, h, w\)'):
        eigen_cam(torch.randn(8, 5, 7), (5, 7))


def test_overlay():
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    cam = eigen_cam(synthetic(blob(20, 30, (5.0, 20.0)), batch=1), (20, 30))[0]
    blended = overlay(image, cam, alpha=0.4)
    assert blended.dtype == np.uint8 and blended.shape == image.shape
    assert np.array_equal(overlay(image, cam, alpha=0.0), image)
    assert not np.array_equal(blended, image)
    assert overlay(image, cam[:10, :15].numpy()).shape == image.shape  # resized to the image
    with pytest.raises(ValueError, match='uint8'):
        overlay(image.astype(np.float32), cam)


@pytest.fixture(scope='module')
def cam_tool():
    """tools/analysis/cam.py as a module, so that its main() runs in this process."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), 'tools', 'analysis', 'cam.py')
    spec = importlib.util.spec_from_file_location('cam_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def image_dir(tmp_path):
    import mmcv
    folder = tmp_path / 'images'
    folder.mkdir()
    square = np.full((64, 64, 3), 40, np.uint8)
    square[16:44, 12:40] = (60, 20, 220)
    mmcv.imwrite(square, str(folder / 'square.png'))
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mmcv.imwrite(noise, str(folder / 'noise.png'))
    (folder / 'notes.txt').write_text('not an image, skipped')
    return folder


@pytest.mark.parametrize('config', DEMO)
def test_cli_writes_one_png_per_image(cam_tool, repo_root, image_dir, tmp_path, config,
                                      monkeypatch):
    import mmcv
    monkeypatch.chdir(tmp_path)  # no data/shapes here: only the pipeline is needed
    out_dir = tmp_path / 'cams'
    code = cam_tool.main([os.path.join(repo_root, 'configs', 'demo', config), str(image_dir),
                          '--out-dir', str(out_dir), '--stage', '-1'])
    assert code == 0
    assert sorted(os.listdir(out_dir)) == ['noise_cam.png', 'square_cam.png']
    picture = mmcv.imread(str(out_dir / 'square_cam.png'))
    assert picture.ndim == 3 and picture.shape[1] > picture.shape[0]  # two panels side by side


def test_cli_names_a_missing_image(cam_tool, repo_root, tmp_path, capsys):
    missing = str(tmp_path / 'nowhere' / 'cat.png')
    config = os.path.join(repo_root, 'configs', 'demo', DEMO[0])
    assert cam_tool.main([config, missing, '--out-dir', str(tmp_path)]) == 2
    assert missing in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match='cat.png'):
        run_cam(config, missing)


def test_unreadable_image_and_bad_stage_are_named(repo_root, tmp_path):
    config = os.path.join(repo_root, 'configs', 'demo', DEMO[0])
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'no pixels here')
    with pytest.raises(ValueError, match='broken.png'):
        run_cam(config, str(broken))
    # The demo classifier's backbone returns its last stage only (out_indices=(3,)).
    with pytest.raises(IndexError, match=r'-1\.\.0'):
        CAMInferencer(config, stage=1)
    inferencer = CAMInferencer(config, stage=-1,
                               cfg_options={'model.backbone.out_indices': (1, 3)})
    assert inferencer._check_stage(2) == 1


def test_model_without_backbone_is_refused(tmp_path):
    config = tmp_path / 'bare_backbone.py'
    config.write_text("default_scope = 'mmpretrain'\n"
                      f"model = dict(type='mmsola.SoLAVision', arch={TINY_ARCH!r})\n")
    with pytest.raises(ValueError, match='no `backbone`'):
        CAMInferencer(str(config))
