"""Every config parses, and its model builds through its own library's registry and runs."""
import glob
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmsola  # noqa: F401  (mmsola:: config scope)
from mmsola.apis import build_model
from .conftest import CONFIG_DIR

CONFIGS = sorted(
    os.path.relpath(path, CONFIG_DIR)
    for path in glob.glob(os.path.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if not os.path.basename(path).startswith('_'))
EXAMPLE = os.path.join(os.path.dirname(CONFIG_DIR), 'examples', 'downstream_project', 'configs',
                       'mask-rcnn_sola-t_fpn_1x_fruits.py')


def test_recipes_and_ablations_are_all_there():
    expected = [f'sola/sola-{s}_8xb128_in1k.py' for s in 'tsbl']
    expected += [f'mask_rcnn/mask-rcnn_sola-{s}_fpn_{sched}_coco.py'
                 for s in 'tsb' for sched in ('1x', 'ms-3x')]
    expected += [f'upernet/upernet_sola-{s}_8xb2-160k_ade20k-512x512.py' for s in 'tsb']
    for variant in ('linear', 'softmax', 'stage', 'nofusion'):
        expected += [f'mask_rcnn/mask-rcnn_sola-t-{variant}_fpn_1x_coco.py',
                     f'upernet/upernet_sola-t-{variant}_8xb2-160k_ade20k-512x512.py']
    missing = [name for name in expected if name not in CONFIGS]
    assert not missing


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_and_runs(config):
    cfg = Config.fromfile(os.path.join(CONFIG_DIR, config))
    assert cfg.model.backbone.type == 'mmsola.SoLAVision'
    model = build_model(cfg)
    assert type(model.backbone).__name__ == 'SoLAVision'
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        if cfg.default_scope == 'mmpretrain':
            assert model(x, mode='tensor').shape == (1, cfg.model.head.num_classes)
        elif cfg.default_scope == 'mmseg':
            logits = model(x, mode='tensor')
            assert logits.shape == (1, cfg.model.decode_head.num_classes, 16, 16)
        else:
            feats = model.extract_feat(x)
            assert [f.shape[1] for f in feats] == [cfg.model.neck.out_channels] * 5
            model.rpn_head(feats)


def test_ablations_differ_from_the_default_in_one_setting():
    def backbone(name):
        return Config.fromfile(os.path.join(CONFIG_DIR, 'mask_rcnn', name)).model.backbone

    default = backbone('mask-rcnn_sola-t_fpn_1x_coco.py')
    for variant in ('linear', 'softmax', 'stage'):
        assert backbone(f'mask-rcnn_sola-t-{variant}_fpn_1x_coco.py') == dict(
            default, layout=variant)
    assert backbone('mask-rcnn_sola-t-nofusion_fpn_1x_coco.py') == dict(
        default, early_fusion=False)


def test_downstream_project_inherits_mmsola_and_changes_only_data():
    cfg = Config.fromfile(EXAMPLE)
    base = Config.fromfile(os.path.join(CONFIG_DIR, 'mask_rcnn', 'mask-rcnn_sola-t_fpn_1x_coco.py'))
    assert cfg.model.backbone == base.model.backbone
    assert cfg.optim_wrapper == base.optim_wrapper
    assert cfg.train_dataloader.dataset.metainfo.classes == ('apple', 'banana', 'cherry')
    assert cfg.model.roi_head.bbox_head.num_classes == 3
    model = build_model(cfg)
    assert model.roi_head.mask_head.num_classes == 3
