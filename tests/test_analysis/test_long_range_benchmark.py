"""The long-range benchmark script: runs, reuses finished runs, writes its table and plot."""
import json
import os

import pytest

from mmsola.analysis.long_range import RECORD_NAME, format_table, task_overrides

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, 'configs', 'long_range', 'sola-mini_long-range-160.py')


def test_two_layouts_train_and_report(tmp_path, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'long_range_tool', os.path.join(REPO, 'tools', 'analysis', 'long_range.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.chdir(tmp_path)
    argv = ['--config', CONFIG, '--layouts', 'linear', 'softmax', '--tasks', 'long_range',
            '--iters', '2', '--image-size', '96', '--grid', '4', '--num-train', '4', '--num-val', '2',
            '--work-dir', 'runs', '--out-dir', 'report']
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
