"""tools/deployment/onnx_test.py gives the metrics tools/test.py gives for the same weights."""
import json
import os
import subprocess
import sys

import pytest

from mmsola.deployment import evaluate_onnx

from .conftest import CONFIGS, REPO, load_tool

ONNX_TEST_TOOL = load_tool('deployment', 'onnx_test.py')
# IoUMetric rounds to 0.01 (percent); one pixel decided the other way by float noise moves mIoU
# of this tiny set by less than 0.05.
TOLERANCE = dict(cls=1e-6, seg=0.05)
METRICS = dict(cls={'accuracy/top1'}, seg={'aAcc', 'mIoU', 'mAcc'})


def pytorch_metrics(task, checkpoint, work_dir, cwd):
    """What tools/test.py writes to test_metrics.json."""
    out = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'test.py'), CONFIGS[task],
                          checkpoint, '--work-dir', str(work_dir)], cwd=cwd, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    with open(work_dir / 'test_metrics.json') as f:
        return json.load(f)['metrics']


@pytest.mark.parametrize('task', ['cls', 'seg'])
def test_onnx_runtime_metrics_equal_tools_test(task, exported, checkpoints, deploy_workspace,
                                               monkeypatch, capsys):
    expected = pytorch_metrics(task, checkpoints[task], deploy_workspace / f'pt_{task}',
                               deploy_workspace)
    monkeypatch.chdir(deploy_workspace)  # the demo configs' data root is relative
    work_dir = deploy_workspace / f'ort_{task}'
    ONNX_TEST_TOOL.main([CONFIGS[task], exported[task], '--work-dir', str(work_dir)])
    assert 'onnx_test_metrics.json' in capsys.readouterr().out
    with open(work_dir / 'onnx_test_metrics.json') as f:
        written = json.load(f)
    assert written['onnx_file'] == exported[task] and written['runtime'] == 'onnxruntime'
    metrics = written['metrics']
    assert METRICS[task] <= set(metrics) and set(metrics) == set(expected)
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=TOLERANCE[task]), name
    # the random-init weights still give a non-trivial, image-dependent result
    if task == 'seg':
        assert 0 < metrics['mIoU'] < 100


def test_a_graph_of_another_task_is_refused(exported, deploy_workspace, monkeypatch):
    monkeypatch.chdir(deploy_workspace)
    with pytest.raises(ValueError, match='holds a segmentation graph'):
        evaluate_onnx(CONFIGS['cls'], exported['seg'])
    with pytest.raises(ValueError, match='classifiers .mmpretrain. and segmentors'):
        evaluate_onnx(CONFIGS['det'], exported['seg'])
