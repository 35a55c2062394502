"""The long-range benchmark script: runs, reuses finished runs, writes its table and plot."""
import itertools
import json
import os
import subprocess

import pytest

import mmsola
from mmsola.analysis import long_range
from mmsola.analysis.long_range import (RECORD_NAME, TRAIN_SCRIPT, format_table, task_overrides,
                                        train_one)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, 'configs', 'long_range', 'sola-mini_long-range-160.py')


def test_two_layouts_train_and_report(tmp_path, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'long_range_tool', os.path.join(REPO, 'tools', 'analysis_tools', 'long_range.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.chdir(tmp_path)
    argv = ['--config', CONFIG, '--layouts', 'linear', 'softmax', '--tasks', 'long_range',
            '--iters', '2', '--image-size', '96', '--grid', '4', '--num-train', '4',
            '--num-val', '2', '--work-dir', 'runs', '--out-dir', 'report']
    tool.main(argv)
    results = json.loads((tmp_path / 'report' / 'long_range.json').read_text())
    assert [(r['task'], r['layout']) for r in results['runs']] == [('long_range', 'linear'),
                                                                   ('long_range', 'softmax')]
    linear, softmax = results['runs']
    assert linear['letters'] == 'L,L,LLL,L' and softmax['letters'] == 'S,S,SSS,S'
    assert linear['params'] == softmax['params'] and softmax['flops'] > linear['flops']
    for run in results['runs']:
        assert 0 <= run['accuracy'] <= 100 and run['max_iters'] == 2
        assert [point['iter'] for point in run['curve']] == [1, 2]
    table = (tmp_path / 'report' / 'long_range.md').read_text()
    assert '| linear | `L,L,LLL,L` |' in table and 'FLOPs @96x96' in table
    assert (tmp_path / 'report' / 'long_range.png').stat().st_size > 5000

    record = tmp_path / 'runs' / 'long_range' / 'linear' / RECORD_NAME
    before = json.loads(record.read_text())['finished']
    tool.main(argv)  # a recorded run is reused, not retrained
    assert json.loads(record.read_text())['finished'] == before


def _write_run(work_dir, stamp, accuracies):
    """An mmengine run folder whose scalars hold a training and a validation line per step."""
    folder = os.path.join(work_dir, stamp, 'vis_data')
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'scalars.json'), 'w') as f:
        for step, accuracy in enumerate(accuracies, 1):
            f.write(json.dumps(dict(lr=0.1, loss=0.7, iter=step, step=step)) + '\n')
            f.write(json.dumps({'accuracy/top1': accuracy, 'step': step}) + '\n')


@pytest.fixture
def fake_training(monkeypatch):
    """``subprocess.run`` of the training script replaced by a run logging 60 % then 70 %."""
    commands = []

    def run(command, **kwargs):
        commands.append(command)
        _write_run(command[command.index('--work-dir') + 1], '20990101_000000', [60.0, 70.0])
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(long_range.subprocess, 'run', run)
    return commands


def test_rerun_curve_holds_only_the_newest_run(tmp_path, fake_training):
    work_dir = str(tmp_path / 'linear')
    _write_run(work_dir, '20200101_000000', [11.0, 12.0])  # an earlier, interrupted run
    options = task_overrides('long_range', 'linear', 'data', max_iters=2)
    record = train_one(CONFIG, 'long_range', 'linear', work_dir, options)
    assert record['curve'] == [dict(iter=1, accuracy=60.0), dict(iter=2, accuracy=70.0)]
    assert record['accuracy'] == 70.0 and record['max_iters'] == 2
    # the script the package ships, so a wheel install trains too
    assert TRAIN_SCRIPT == os.path.join(os.path.dirname(mmsola.__file__), '.mim', 'tools',
                                        'train.py')
    assert fake_training[0][1] == TRAIN_SCRIPT and os.path.isfile(TRAIN_SCRIPT)


def test_record_killed_mid_write_leaves_a_resumable_work_dir(tmp_path, fake_training,
                                                             monkeypatch):
    real_iterencode = json.JSONEncoder.iterencode

    def killed_after_three_chunks(self, obj, _one_shot=False):
        chunks = real_iterencode(self, obj, _one_shot)
        if isinstance(obj, dict) and 'curve' in obj:
            yield from itertools.islice(chunks, 3)
            raise KeyboardInterrupt
        yield from chunks

    work_dir = str(tmp_path / 'linear')
    options = task_overrides('long_range', 'linear', 'data', max_iters=2)
    with monkeypatch.context() as patch:
        patch.setattr(json.JSONEncoder, 'iterencode', killed_after_three_chunks)
        with pytest.raises(KeyboardInterrupt):
            train_one(CONFIG, 'long_range', 'linear', work_dir, options)
    assert not (tmp_path / 'linear' / RECORD_NAME).exists()
    record = train_one(CONFIG, 'long_range', 'linear', work_dir, options)  # resumes: trains again
    assert len(fake_training) == 2 and record['accuracy'] == 70.0
    assert json.loads((tmp_path / 'linear' / RECORD_NAME).read_text()) == record


def test_overrides_name_the_task_root_and_reject_unknown_tasks():
    options = task_overrides('control', 'sola', 'data/lr', max_iters=10, seed=3)
    assert options['randomness.seed'] == 3
    assert options['train_dataloader.dataset.data_root'] == 'data/lr/control/'
    assert options['val_dataloader.dataset.data_root'] == 'data/lr/control/'
    assert options['train_cfg.val_interval'] == 5
    with pytest.raises(ValueError, match='unknown long-range task'):
        task_overrides('far', 'sola', 'data/lr')


def test_table_lists_missing_runs_as_dashes():
    common = dict(letters='L,L,LLS,S', params=2_000_000, flops=300_000_000, train_seconds=120,
                  max_iters=10, batch_size=4)
    results = dict(image_size=160, runs=[
        dict(common, task='long_range', layout='sola', accuracy=71.25),
        dict(common, task='control', layout='sola', accuracy=99.0),
        dict(common, task='control', layout='linear', accuracy=98.0, letters='L,L,LLL,L'),
    ])
    table = format_table(results)
    assert '| sola | `L,L,LLS,S` | 71.2 | 99.0 | 2.00 M | 0.300 G | 2.0 min | 2.0 min |' in table
    assert '| linear | `L,L,LLL,L` | - | 98.0 |' in table
