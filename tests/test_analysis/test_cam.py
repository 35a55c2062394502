"""EigenCAM: the map on a tiny SoLA-Vision, recovery of a planted principal pattern whatever sign
the SVD returns, and tools/visualization/vis_cam.py on the three demo configs (random weights,
small images) through the libraries' own inference APIs."""
import importlib.util
import os

import numpy as np
import pytest
import torch

from mmsola.analysis import cam as cam_module
from mmsola.analysis.cam import eigen_cam, principal_projection, run_cam
from mmsola.models import SoLAVision

TINY_ARCH = dict(embed_dims=(16, 32, 64, 96), depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 6))
DEMO_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'configs', 'demo')
SCENE_SHAPE = (48, 80)  # (H, W) of the non-square test image


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
        assert torch.allclose(cam.flatten(1).min(dim=1).values, torch.zeros(2))
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
    with pytest.raises(ValueError, match='NaN'):
        eigen_cam(torch.full((1, 4, 3, 3), float('nan')), (6, 6))


@pytest.fixture(scope='module')
def cam_tool():
    """tools/visualization/vis_cam.py as a module, so that its main() runs in this process."""
    path = os.path.join(os.path.dirname(os.path.dirname(DEMO_DIR)), 'tools', 'visualization',
                        'vis_cam.py')
    spec = importlib.util.spec_from_file_location('vis_cam_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def image_dir(tmp_path):
    """A 48 x 80 scene at the top, a 64 x 64 image in a sub-folder, and a file to skip."""
    import mmcv
    folder = tmp_path / 'images'
    (folder / 'more').mkdir(parents=True)
    scene = np.full((*SCENE_SHAPE, 3), 40, np.uint8)
    scene[10:40, 20:50] = (60, 20, 220)
    mmcv.imwrite(scene, str(folder / 'scene.png'))
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mmcv.imwrite(noise, str(folder / 'more' / 'noise.png'))
    (folder / 'notes.txt').write_text('not an image, skipped')
    return folder


# The demo pipelines bring 48 x 80 to: 77 x 128 (mmdet/mmseg Resize to fit 128 x 128, mmdet then
# pads to a multiple of 32: 96 x 128) and 64 x 106 (mmpretrain ResizeEdge, short side 64).
# SoLA-Vision output i has stride 2^(i + 2). Segmentation runs sliding-window inference here, so
# the backbone never sees the whole image during inference and the tool runs it once more.
DEMO_RUNS = [
    ('sola-mini_shapes.py', [], (64, 106), (192, 2, 4)),
    ('mask-rcnn_sola-mini_fpn_shapes.py', ['--stage', '1'], (96, 128), (64, 12, 16)),
    ('upernet_sola-mini_shapes.py',
     ['--cfg-options', 'model.test_cfg.mode=slide', 'model.test_cfg.crop_size=(64,64)',
      'model.test_cfg.stride=(48,48)'], (77, 128), (192, 3, 4)),
]


@pytest.mark.parametrize('config, extra_args, padded_size, feature_shape', DEMO_RUNS)
def test_cli_draws_the_library_prediction_and_the_map(cam_tool, image_dir, tmp_path,
                                                      monkeypatch, config, extra_args,
                                                      padded_size, feature_shape):
    import mmcv
    calls = []

    def recording_eigen_cam(features, out_size):
        calls.append((tuple(features.shape), tuple(out_size)))
        return eigen_cam(features, out_size)

    monkeypatch.setattr(cam_module, 'eigen_cam', recording_eigen_cam)
    monkeypatch.chdir(tmp_path)  # no data/shapes here: the inference APIs need none
    out_dir = tmp_path / 'cams'
    code = cam_tool.main([os.path.join(DEMO_DIR, config), str(image_dir),
                          '--out-dir', str(out_dir)] + extra_args)
    assert code == 0
    assert sorted(os.listdir(out_dir)) == ['more', 'scene_cam.png']
    assert os.listdir(out_dir / 'more') == ['noise_cam.png']
    # The map is taken from the backbone's output on the input the library prepared.
    assert ((1, ) + feature_shape, padded_size) in calls and len(calls) == 2
    # Prediction on the image as read, next to the map over the image as fed, same height.
    picture = mmcv.imread(str(out_dir / 'scene_cam.png'))
    assert picture.shape == (SCENE_SHAPE[0], 2 * SCENE_SHAPE[1], 3)
    left, right = picture[:, :SCENE_SHAPE[1]], picture[:, SCENE_SHAPE[1]:]
    assert not np.array_equal(left, right)
    assert right.std() > 10  # a colour map, not a blank panel


def test_cli_names_a_missing_image_and_an_imageless_folder(cam_tool, tmp_path, capsys):
    config = os.path.join(DEMO_DIR, 'sola-mini_shapes.py')
    missing = str(tmp_path / 'nowhere' / 'cat.png')
    assert cam_tool.main([config, missing, '--out-dir', str(tmp_path)]) == 2
    assert missing in capsys.readouterr().err
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'notes.txt').write_text('no image here')
    with pytest.raises(FileNotFoundError, match=f'folder {empty} holds no images'):
        run_cam(config, str(empty))


def test_bad_image_scope_stage_and_model_are_named(tmp_path, monkeypatch):
    import mmcv
    monkeypatch.chdir(tmp_path)
    config = os.path.join(DEMO_DIR, 'sola-mini_shapes.py')
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'no pixels here')
    with pytest.raises(ValueError, match='cannot read image .*broken.png'):
        run_cam(config, str(broken))
    image = tmp_path / 'image.png'
    mmcv.imwrite(np.zeros((32, 32, 3), np.uint8), str(image))
    # The demo classifier's backbone returns its last stage only (out_indices=(3,)) ...
    with pytest.raises(IndexError, match=r'stage 1 is out of range.*-1\.\.0'):
        run_cam(config, str(image), stage=1)
    # ... which is stage 0 as well; a bare file name goes to the default folder.
    assert run_cam(config, 'image.png', stage=0) == [
        os.path.join('work_dirs', 'cam', 'sola-mini_shapes', 'image_cam.png')]
    other_scope = tmp_path / 'ocr.py'
    other_scope.write_text("default_scope = 'mmocr'\nmodel = dict(type='mmsola.SoLAVision')\n")
    with pytest.raises(ValueError, match="ocr.py has default_scope 'mmocr'"):
        run_cam(str(other_scope), str(image))
    bare = tmp_path / 'bare_backbone.py'
    bare.write_text("default_scope = 'mmpretrain'\n"
                    f"model = dict(type='mmsola.SoLAVision', arch={TINY_ARCH!r})\n")
    with pytest.raises(ValueError, match='bare_backbone.py .*no `backbone`'):
        run_cam(str(bare), str(image))
    assert os.listdir(tmp_path / 'work_dirs' / 'cam') == ['sola-mini_shapes']
