"""tools/train.py and tools/test.py for each task, and the classification-to-backbone converter."""
import glob
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from .conftest import DEMO_CONFIGS
from .test_configs import build_model

TOOLS = os.path.join(os.path.dirname(os.path.dirname(DEMO_CONFIGS['det'])), os.pardir, 'tools')
TOOLS = os.path.abspath(TOOLS)
METRIC_KEYS = dict(det='coco/bbox_mAP', seg='mIoU', cls='accuracy/top1')
SHORT_RUN = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
             'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1']


def run_tool(script, *args, cwd):
    cmd = [sys.executable, os.path.join(TOOLS, script), *args]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f'{" ".join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}'
    return out.stdout + out.stderr


@pytest.fixture(scope='module')
def trained(shapes_workspace):
    """Two training iterations of each demo config; returns {task: work_dir}."""
    work_dirs = {}
    for task, config in DEMO_CONFIGS.items():
        work_dir = str(shapes_workspace / 'work_dirs' / task)
        run_tool('train.py', config, '--work-dir', work_dir, '--cfg-options', *SHORT_RUN,
                 cwd=shapes_workspace)
        work_dirs[task] = work_dir
    return work_dirs


@pytest.mark.parametrize('task', ['det', 'seg', 'cls'])
def test_train_then_test_with_the_library_metric(task, trained, shapes_workspace):
    checkpoint = os.path.join(trained[task], 'iter_2.pth')
    assert os.path.isfile(checkpoint)
    show_dir = str(shapes_workspace / 'show' / task)
    log = run_tool('test.py', DEMO_CONFIGS[task], checkpoint, '--show-dir', show_dir,
                   '--work-dir', str(shapes_workspace / 'test_dirs' / task), cwd=shapes_workspace)
    assert METRIC_KEYS[task] in log
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
