"""tools/train.py and tools/test.py for each task, and the classification-to-backbone converter."""
import glob
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mmsola.apis import build_model

from .conftest import DEMO_CONFIGS, SHORT_RUN, TOOLS, run_tool

METRIC_KEYS = dict(det='coco/bbox_mAP', seg='mIoU', cls='accuracy/top1')


@pytest.mark.parametrize('task', ['det', 'seg', 'cls'])
def test_train_then_test_with_the_library_metric(task, trained, shapes_workspace):
    checkpoint = os.path.join(trained[task], 'iter_2.pth')
    assert os.path.isfile(checkpoint)
    show_dir = str(shapes_workspace / 'show' / task)
    test_dir = shapes_workspace / 'test_dirs' / task
    run_tool('test.py', DEMO_CONFIGS[task], checkpoint, '--show-dir', show_dir,
             '--work-dir', str(test_dir), cwd=shapes_workspace)
    with open(test_dir / 'test_metrics.json') as f:
        written = json.load(f)
    assert written['checkpoint'] == checkpoint
    assert isinstance(written['metrics'][METRIC_KEYS[task]], float)
    images = glob.glob(os.path.join(show_dir, '**', '*.png'), recursive=True) + glob.glob(
        os.path.join(show_dir, '**', '*.jpg'), recursive=True)
    assert images, f'no prediction images under {show_dir}'


def test_converted_classifier_initialises_detector_backbone(trained, shapes_workspace):
    cls_checkpoint = os.path.join(trained['cls'], 'iter_2.pth')
    converted = str(shapes_workspace / 'backbone.pth')
    run_tool(os.path.join('model_converters', 'cls_to_backbone.py'), cls_checkpoint, converted,
             cwd=shapes_workspace)
    classifier_state = torch.load(cls_checkpoint)['state_dict']
    expected = {k[len('backbone.'):]: v for k, v in classifier_state.items()
                if k.startswith('backbone.')}
    assert set(torch.load(converted)['state_dict']) == set(expected)

    for checkpoint, prefix in ((converted, None), (cls_checkpoint, 'backbone.')):
        cfg = Config.fromfile(DEMO_CONFIGS['det'])
        cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=checkpoint,
                                           prefix=prefix)
        detector = build_model(cfg)
        detector.init_weights()
        state = detector.backbone.state_dict()
        for key, value in expected.items():
            assert torch.equal(state[key], value), key


def run_failing_tool(script, *args, cwd):
    out = subprocess.run([sys.executable, os.path.join(TOOLS, script), *args], cwd=cwd,
                         capture_output=True, text=True)
    assert out.returncode != 0
    return out.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason='--amp runs where CUDA is present')
def test_amp_without_a_gpu_is_refused_with_the_reason(shapes_workspace, tmp_path):
    error = run_failing_tool('train.py', DEMO_CONFIGS['cls'], '--amp', '--work-dir',
                             str(tmp_path / 'amp'), cwd=shapes_workspace)
    assert '--amp needs a CUDA GPU' in error
    assert not (tmp_path / 'amp').exists()


def test_resume_in_an_empty_work_dir_names_it(shapes_workspace, tmp_path):
    work_dir = tmp_path / 'nothing_yet'
    error = run_failing_tool('train.py', DEMO_CONFIGS['cls'], '--resume', '--work-dir',
                             str(work_dir), cwd=shapes_workspace)
    assert f'--resume: the work dir {work_dir} holds no checkpoint' in error


def test_unreadable_image_is_named(shapes_workspace, tmp_path):
    """A corrupt file in a class folder stops training with its path in the error."""
    workspace = tmp_path / 'workspace'
    shutil.copytree(shapes_workspace / 'data', workspace / 'data')
    broken = sorted((workspace / 'data' / 'shapes' / 'cls' / 'train' / 'circle').iterdir())[0]
    broken.write_bytes(b'not an image')
    error = run_failing_tool('train.py', DEMO_CONFIGS['cls'], '--work-dir', str(tmp_path / 'w'),
                             '--cfg-options', *SHORT_RUN, 'train_dataloader.num_workers=0',
                             'train_dataloader.persistent_workers=False', cwd=workspace)
    assert str(broken) in error or broken.name in error, error[-2000:]
