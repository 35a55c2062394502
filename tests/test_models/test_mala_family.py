"""MALA and RAVLT checkpoints: converted into mmsola, the same numbers as their official code.

``tests/data/mala_family_reference.pth`` was produced on 2026-12-04 by running the official
classification and detection-backbone code, outside this repository, on one small random
configuration (embed_dims 4-8-16-32, depths 1-1-2-1, heads 1-1-2-2, mlp ratio 3.5, projection
64, 10 classes; every parameter and BN statistic random: matrices normal with std
fan_in^-0.5, layer scales uniform in [0.2, 0.8], norm weights 1 + 0.1 z, biases and running
means 0.1 z (z standard normal), running variances uniform in [0.5, 1.5]):

* ``qhfan/MALA`` at 7114e6391e16a79e52382cbbcaa7f035705f3449: ``classfication_release/model.py``
  (``MALA``) and ``detect/mmdet/models/backbones/MALA.py`` (``MALA``, for the stage features);
* ``qhfan/RALA`` at a86314f62103c21a1c7e6d826fe4cb0f5586e7b0: ``classfication/RALA.py``
  (``RAVLT``) and ``detection/mmdet/models/backbones/RALA.py`` (``GLTA``);

with torch 2.14.1, timm 1.0.31, einops 0.8.2 and fvcore 0.1.5, in eval mode (the detection
files imported with stand-ins for the mmdet 2.x registry, ``mmcv_custom`` and
``get_root_logger`` that they import, and nothing else changed), by a script that
builds both with the weights above (one set for both families: their key layouts are the same),
feeds the image ``uint8 / 128 - 1`` of ``image`` (3 x 56 x 56), repeated 4 x 4 per pixel to
224 x 224, and its top-left 50 x 34 corner the same way to 200 x 136, and saves the logits and
the four normalised stage outputs. Their code has no licence, so none of it is here; the file
holds only their key names, the weights, the input and the outputs.
"""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmsola.models.converters import (FamilyCheckpointError, convert_family_checkpoint,
                                      load_family_checkpoint)
from mmsola.utils.checkpoint import UnsafeCheckpointError

from family_checkpoints import save_family_checkpoint  # tests/family_checkpoints.py

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REFERENCE = osp.join(REPO, 'tests', 'data', 'mala_family_reference.pth')
FAMILIES = ('mala', 'ravlt')
SIZES = {'224x224': (56, 56), '200x136': (50, 34)}
TOLERANCE = 1e-5


@pytest.fixture(scope='module')
def reference():
    return torch.load(REFERENCE, weights_only=True)


def reference_input(reference, size):
    height, width = SIZES[size]
    image = reference['image'][:, :, :height, :width].float().div(128).sub(1)
    return image.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)


def at_small_size(backbone, reference):
    """A config's backbone at the reference's size, with the config's mixer in every stage."""
    config = reference['config']
    backbone.arch = dict(embed_dims=config['embed_dims'], depths=config['depths'],
                         num_heads=config['num_heads'])
    letters = [stage[0] for stage in backbone.layout.split(',')]
    backbone.layout = ','.join(letter * depth for letter, depth in zip(letters, config['depths']))


def config_of(name):
    return Config.fromfile(osp.join(REPO, 'configs', name))


def build_classifier(family, reference):
    """The classifier of configs/<family>/<family>-t, at the reference's small size."""
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = config_of(f'{family}/{family}-t_8xb128_in1k.py').model
    projection = reference['config']['projection']
    at_small_size(cfg.backbone, reference)
    cfg.neck.in_channels = reference['config']['embed_dims'][-1]
    cfg.neck.out_channels = projection
    cfg.head.in_channels = projection
    cfg.head.num_classes = reference['config']['num_classes']
    return MODELS.build(cfg).eval()


def build_dense_backbone(family, reference):
    """The backbone of configs/<family>/mask-rcnn_<family>-t, at the reference's small size."""
    from mmsola.registry import MODELS
    cfg = config_of(f'{family}/mask-rcnn_{family}-t_fpn_1x_coco.py').model.backbone
    at_small_size(cfg, reference)
    cfg.init_cfg = None
    cfg.conv_norm_cfg = dict(type='BN')
    return MODELS.build(cfg).eval()


def dense_checkpoint(reference):
    """Their detection checkpoint layout: the backbone under ``backbone.`` and a neck."""
    state = {f'backbone.{key}': value for key, value in reference['model'].items()
             if key.split('.')[0] not in ('proj', 'norm', 'head')}
    state.update({f'backbone.{key}': value for key, value in reference['extra_norms'].items()})
    state['neck.lateral_convs.0.conv.weight'] = torch.ones(2, 4, 1, 1)
    return dict(meta=dict(mmdet_version='2.11.0'), state_dict=state)


def max_error(got, want):
    return (got - want).abs().max().item()


@pytest.mark.parametrize('family', FAMILIES)
def test_converted_classifier_matches_official_logits(family, reference):
    converted, summary = convert_family_checkpoint(
        dict(model=reference['model']), family, num_heads=reference['config']['num_heads'])
    assert summary['task'] == 'classification' and summary['arch'] == 'custom'
    model = build_classifier(family, reference)
    model.load_state_dict(converted, strict=True)
    for size in SIZES:
        with torch.no_grad():
            logits = model(reference_input(reference, size), mode='tensor')
        want = reference['outputs'][family][size]['logits']
        assert logits.shape == want.shape
        assert max_error(logits, want) <= TOLERANCE, (size, max_error(logits, want))


@pytest.mark.parametrize('family', FAMILIES)
def test_converted_backbone_matches_official_stage_features(family, reference):
    converted, summary = convert_family_checkpoint(
        dense_checkpoint(reference), family, num_heads=reference['config']['num_heads'])
    assert summary['task'] == 'dense'
    assert torch.equal(converted['neck.lateral_convs.0.conv.weight'], torch.ones(2, 4, 1, 1))
    backbone = build_dense_backbone(family, reference)
    backbone.load_state_dict({k[len('backbone.'):]: v for k, v in converted.items()
                              if k.startswith('backbone.')}, strict=True)
    for size in SIZES:
        with torch.no_grad():
            features = backbone(reference_input(reference, size))
        wants = reference['outputs'][family][size]['features']
        assert len(features) == len(wants) == 4
        for stage, (got, want) in enumerate(zip(features, wants)):
            assert got.shape == want.shape, (size, stage)
            assert max_error(got, want) <= TOLERANCE, (size, stage, max_error(got, want))


def test_the_two_families_differ_on_the_same_weights(reference):
    """The test data would not tell a wrong mixer apart if both families gave one answer."""
    logits = [reference['outputs'][f]['224x224']['logits'] for f in FAMILIES]
    assert max_error(*logits) > 1e-2


def test_the_rotary_pairing_and_frequencies_matter(reference):
    """Converting without the q/k permutation, or with mmsola's own frequencies, is caught."""
    converted, _ = convert_family_checkpoint(dict(model=reference['model']), 'mala',
                                             num_heads=reference['config']['num_heads'])
    want = reference['outputs']['mala']['224x224']['logits']
    model = build_classifier('mala', reference)
    for stage in model.backbone.stages:
        stage.rotary.freq_exponents = 'arange'
    model.load_state_dict(converted)
    with torch.no_grad():
        assert max_error(model(reference_input(reference, '224x224'), mode='tensor'),
                         want) > 1e-4


# --- their checkpoint files --------------------------------------------------------------------

def test_mala_t_file_converts_and_loads_strictly(tmp_path):
    path = str(tmp_path / 'MALA_T.pth')
    state = save_family_checkpoint(path, 'mala')
    checkpoint = load_family_checkpoint(path)  # safe: argparse.Namespace allowed, nothing else
    converted, summary = convert_family_checkpoint(checkpoint, 'mala')
    assert summary['arch'] == 'tiny' and summary['model_name'] == 'MALA_T'
    assert summary['num_heads'] == (1, 2, 4, 8) and summary['projection'] == 2048
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    model = MODELS.build(config_of('mala/mala-t_8xb128_in1k.py').model)
    model.load_state_dict(converted, strict=True)
    # the bias of the conv before each BN is folded into the running mean
    torch.testing.assert_close(
        converted['backbone.stem.0.bn.running_mean'],
        state['patch_embed.proj.1.running_mean'] - state['patch_embed.proj.0.bias'])
    ema, _ = convert_family_checkpoint(checkpoint, 'mala', use_ema=True)
    torch.testing.assert_close(ema['head.fc.bias'], converted['head.fc.bias'] + 1)


def test_a_file_of_another_family_or_size_is_refused_naming_what_it_has(tmp_path):
    path = str(tmp_path / 'RAVLT_T.pth')
    save_family_checkpoint(path, 'ravlt')
    checkpoint = load_family_checkpoint(path)
    with pytest.raises(FamilyCheckpointError, match=r"args.model='RAVLT_T'.*1024-wide"):
        convert_family_checkpoint(checkpoint, 'mala')
    checkpoint['args'].model = 'RAVLT_S'
    with pytest.raises(FamilyCheckpointError, match="args.model='RAVLT_S'"):
        convert_family_checkpoint(checkpoint, 'ravlt')
    with pytest.raises(FamilyCheckpointError, match=r'num_heads \(1, 2, 4, 8\)'):
        convert_family_checkpoint(checkpoint, 'ravlt', num_heads=(1, 1, 1, 1))
    with pytest.raises(FamilyCheckpointError, match='not a MALA/RAVLT backbone'):
        convert_family_checkpoint(dict(state_dict={'conv1.weight': torch.ones(1)}), 'mala')


def test_a_file_with_other_pickled_objects_is_refused_unless_trusted(tmp_path):
    path = str(tmp_path / 'odd.pth')
    save_family_checkpoint(path, 'mala', extra=dict(odd=os.stat_result(range(10))))
    with pytest.raises(UnsafeCheckpointError, match=r'os.stat_result[\s\S]*--trusted'):
        load_family_checkpoint(path)
    assert 'model' in load_family_checkpoint(path, trusted=True)


def test_sola_t_initialised_from_mala_t_takes_every_weight_layer_to_layer(tmp_path):
    path = str(tmp_path / 'MALA_T.pth')
    save_family_checkpoint(path, 'mala')
    converted, _ = convert_family_checkpoint(load_family_checkpoint(path), 'mala')
    checkpoint = str(tmp_path / 'mala-t_in1k.pth')
    torch.save(dict(state_dict=converted), checkpoint)
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = config_of('mala/sola-t_from-mala-t_8xb128_in1k.py').model
    cfg.init_cfg.checkpoint = checkpoint
    model = MODELS.build(cfg)
    assert model.backbone.layout == ('LL', 'LL', 'LLSLLS', 'LS')  # not MALA-T's SSSSSS, SS
    model.init_weights()
    state = model.state_dict()
    assert set(converted) == {k for k in state if not k.startswith('backbone.early_fusion')}
    for key, value in converted.items():
        assert torch.equal(state[key], value), key
    assert not model.backbone.early_fusion.scales.any()  # the injection starts at zero


def test_a_weight_the_conversion_does_not_read_is_refused(reference):
    """A file of another code version (an extra parameter) must not convert silently."""
    model = dict(reference['model'])
    model['layers.0.blocks.0.attn.temperature'] = torch.ones(1)
    with pytest.raises(FamilyCheckpointError,
                       match=r'1 weights .* no place .*layers.0.blocks.0.attn.temperature'):
        convert_family_checkpoint(dict(model=model), 'mala',
                                  num_heads=reference['config']['num_heads'])
