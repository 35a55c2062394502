"""tools/deployment/pytorch2onnx.py: the classifier, the segmentor and the backbone exported with
dynamic or fixed shapes, checked by ONNX Runtime at odd sizes; failures that must be reported."""
import json

import numpy as np
import onnx
import pytest
import torch

from mmsola.apis import init_model
from mmsola.deployment import create_session, verify_onnx, wrap_for_export

from .conftest import CONFIGS, EXPORT_TOOL, export

@pytest.mark.parametrize('task, channels', [('cls', 3), ('seg', 4)])
def test_dynamic_export_runs_at_odd_sizes(task, channels, exported, capsys):
    session = create_session(exported[task])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta['mmsola_task'] == dict(cls='classification', seg='segmentation')[task]
    assert '0-255' in meta['input'] and 'RGB' in meta['input']
    for batch, height, width in ((1, 97, 131), (3, 61, 45)):
        images = np.random.default_rng(0).uniform(0, 255, (batch, 3, height, width))
        out, = session.run(None, {'image': images.astype(np.float32)})
        expected = (batch, channels) if task == 'cls' else (batch, channels, height, width)
        assert out.shape == expected


@pytest.mark.parametrize('task, output', [('cls', 'logits (1, 3)'),
                                          ('seg', 'seg_logits (1, 4, 97, 131)')])
def test_tool_verifies_every_default_shape(task, output, exported):
    lines = exported[f'{task}_log'].splitlines()
    verified = [line for line in lines if line.startswith('verify ')]
    assert [line.split(':')[0] for line in verified] == [
        'verify 1x3x97x131', 'verify 2x3x224x224', 'verify 3x3x160x200']
    assert all(line.endswith('PASS') for line in verified), verified
    assert f'verify 1x3x97x131: {output} max |diff| ' in verified[0]
    assert 'verified: ONNX Runtime matches PyTorch within 0.0001 at every shape' in lines[-1]


def test_verify_catches_a_corrupted_graph(exported, checkpoints, tmp_path):
    """The same check that passes on the exported file fails once one weight is changed."""
    model = wrap_for_export(init_model(CONFIGS['seg'], checkpoints['seg']), 'segmentation')
    shapes = [(1, 97, 131), (2, 64, 80)]
    assert all(r.passed(1e-4) for r in verify_onnx(model, exported['seg'], shapes))

    graph = onnx.load(exported['seg'])
    largest = max(graph.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    weights = onnx.numpy_helper.to_array(largest).copy()
    weights.flat[0] += 1.0
    largest.CopyFrom(onnx.numpy_helper.from_array(weights, largest.name))
    corrupted = str(tmp_path / 'corrupted.onnx')
    onnx.save(graph, corrupted)
    results = verify_onnx(model, corrupted, shapes)
    assert not any(r.passed(1e-4) for r in results)
    assert 'FAIL' in results[0].describe(1e-4)


def test_backbone_of_a_detector_at_a_fixed_shape(tmp_path, capsys):
    path = tmp_path / 'backbone.onnx'
    # an impossible tolerance: the verification must fail and say so
    export(CONFIGS['det'], '--backbone', '--shape', '2x96x80', '--out', path, '--verify',
           '--tolerance', '1e-12', expect=1)
    captured = capsys.readouterr()
    assert 'verify 2x3x96x80: stage1 (2, 32, 24, 20) max |diff| ' in captured.out
    assert 'FAIL' in captured.out
    assert 'more than --tolerance 1e-12' in captured.err

    session = create_session(str(path))
    assert [o.name for o in session.get_outputs()] == ['stage1', 'stage2', 'stage3', 'stage4']
    assert session.get_inputs()[0].shape == [2, 3, 96, 80]
    outputs = session.run(None, {'image': np.zeros((2, 3, 96, 80), np.float32)})
    assert [o.shape[1:] for o in outputs] == [(32, 24, 20), (64, 12, 10), (128, 6, 5),
                                              (192, 3, 3)]
    with pytest.raises(Exception, match='(?i)dimension|shape'):
        session.run(None, {'image': np.zeros((1, 3, 64, 64), np.float32)})


def test_detector_is_refused_with_the_reason(tmp_path, capsys):
    path = tmp_path / 'det.onnx'
    export(CONFIGS['det'], '--out', path, expect=2)
    err = capsys.readouterr().err
    assert 'mmdeploy' in err and '--backbone' in err and 'RoI' in err
    assert not path.exists()


@pytest.mark.parametrize('shape', ['224x224', '1x3x224x224', '0x64x64', 'axbxc'])
def test_bad_shape_is_refused_naming_the_option(shape, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        EXPORT_TOOL.parse_export_args([CONFIGS['cls'], '--out', str(tmp_path / 'x.onnx'),
                                       '--shape', shape])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert 'argument --shape' in err and 'BATCHxHEIGHTxWIDTH' in err and repr(shape) in err


def test_normalisation_is_in_the_graph(checkpoints):
    """The wrapper applies the data preprocessor's mean/std: 0-255 in, the model's output out."""
    model = init_model(CONFIGS['cls'], checkpoints['cls'])
    wrapped = wrap_for_export(model, 'classification')
    images = torch.rand(2, 3, 64, 80) * 255
    preprocessor = model.data_preprocessor
    normalised = (images - preprocessor.mean) / preprocessor.std
    with torch.no_grad():
        assert torch.allclose(wrapped(images)[0], model(normalised, mode='tensor'))
    assert json.dumps(wrapped.output_names) == '["logits"]'


def test_exportable_adaptive_pooling_matches_pytorch():
    """The runtime-size pooling that replaces UperNet's pyramid pooling in the exported copy."""
    from mmsola.deployment import ExportableAdaptiveAvgPool2d, exportable_copy
    for size in ((7, 8), (4, 5), (13, 3), (2, 2), (1, 9)):
        x = torch.randn(2, 3, *size)
        for output_size in (1, 2, 3, 6, (2, None)):
            expected = torch.nn.AdaptiveAvgPool2d(output_size)(x)
            assert torch.allclose(ExportableAdaptiveAvgPool2d(output_size)(x), expected,
                                  atol=1e-6), (size, output_size)
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(6), torch.nn.AdaptiveAvgPool2d(1))
    copied = exportable_copy(model)
    assert isinstance(copied[0], ExportableAdaptiveAvgPool2d)
    assert isinstance(copied[1], torch.nn.AdaptiveAvgPool2d)  # global pooling exports as is
    assert isinstance(model[0], torch.nn.AdaptiveAvgPool2d)  # the original is untouched
