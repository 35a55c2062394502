"""The long-range study: its layouts, its ledger (resumable), its statistics and its tool."""
import importlib.util
import json
import math
import os
import subprocess

import pytest

from mmsola.analysis import long_range
from mmsola.datasets.long_range import board_fingerprint
from mmsola.analysis.long_range import (compare, format_study, periodic_layout, run_budget,
                                        run_long_range_study, run_options, study_layouts,
                                        summarise_layouts, t_interval, validation_iters)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, 'configs', 'long_range', 'sola-mini_long-range-boards.py')


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'long_range_tool', os.path.join(REPO, 'tools', 'analysis_tools', 'long_range.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_study_layouts_spend_equal_softmax_budgets():
    layouts = study_layouts((1, 1, 2, 2))
    assert layouts == {
        'linear': 'L,L,LL,LL', 'sola': 'L,L,LS,LS', 'stage': 'L,L,LL,SS',
        'periodic': 'L,L,SL,LS', 'softmax': 'S,S,SS,SS',
        'S@3.1': 'L,L,SL,LL', 'S@3.2': 'L,L,LS,LL', 'S@4.1': 'L,L,LL,SL', 'S@4.2': 'L,L,LL,LS'}
    assert {layouts[name].count('S') for name in ('sola', 'stage', 'periodic')} == {2}
    assert periodic_layout((2, 2, 6, 2)) == ('LL', 'SL', 'LSLLSL', 'LS')
    with pytest.raises(ValueError, match="softmax layers of 'sola'"):
        study_layouts((2, 2, 6, 2))  # 3 softmax layers: no set of whole stages holds exactly 3


def test_run_options_set_layout_distance_and_seed_of_data_and_init():
    options = run_options('L,L,LS,LS', 3, 7, max_iters=10)
    assert options['model.backbone.layout'] == 'L,L,LS,LS'
    assert options['randomness.seed'] == options['train_dataloader.dataset.seed'] == 7
    assert all(options[f'{split}_dataloader.dataset.distance'] == 3
               for split in ('train', 'val', 'test'))
    assert options['train_cfg.max_iters'] == 10 and options['train_cfg.val_interval'] == 1
    assert options['param_scheduler.1.end'] == 10  # the cosine schedule ends with the run
    assert options['param_scheduler.0.end'] == options['param_scheduler.1.begin'] == 1
    budget = run_budget(CONFIG, options)
    assert budget['max_iters'] == 10 and budget['image_size'] == 64 and budget['grid'] == 4
    assert budget['layer_scale_init'] == 0.1 and budget['val_interval'] == 1
    assert budget['boards'] == board_fingerprint(64, 4, 0)  # the config's boards: no distractors
    assert run_budget(CONFIG, dict(options, **{'train_dataloader.dataset.num_distractors': 2})
                      )['boards'] != budget['boards']


def test_validation_iters_follow_mmengine_loop():
    assert validation_iters(300, 30) == list(range(30, 301, 30))
    assert validation_iters(25, 2) == list(range(2, 25, 2)) + [25]  # and always the last


def test_run_budget_refuses_a_schedule_that_outlasts_the_run():
    options = dict(run_options('L,L,LS,LS', 1, 0), **{'train_cfg.max_iters': 10})
    with pytest.raises(ValueError, match=r'param_scheduler\[-1\].end \(300\) must equal '
                                         r'train_cfg.max_iters \(10\)'):
        run_budget(CONFIG, options)


def test_statistics_match_hand_computed_values():
    low, high = t_interval([90.0, 92.0, 94.0])  # mean 92, sd 2, t(0.975, 2) = 4.3027
    assert math.isclose(high - 92.0, 4.3027 * 2 / math.sqrt(3), rel_tol=1e-4)
    assert math.isclose(low + high, 184.0)
    records = [dict(layout=layout, letters=letters, distance=5, seed=seed, accuracy=accuracy)
               for layout, letters, values in (('sola', 'L,S', (90.0, 80.0, 70.0)),
                                                ('linear', 'L,L', (50.0, 52.0, 48.0)))
               for seed, accuracy in enumerate(values)]
    rows = {row['layout']: row for row in summarise_layouts(records)}
    assert rows['sola']['mean'] == 80.0 and rows['sola']['sd'] == 10.0
    assert rows['sola']['seeds'] == {0: 90.0, 1: 80.0, 2: 70.0}
    result = compare(records, 'sola', 'linear', 5)
    assert result['differences'] == [40.0, 28.0, 22.0] and result['mean'] == 30.0
    # paired t: sd of the differences 9.165, t = 30 / (9.165 / sqrt 3) = 5.670, 2 dof
    assert math.isclose(result['p'], 0.0297, abs_tol=5e-4)
    table = format_study(records, [result])
    assert '| sola | `L,S` | 80.0 ± 10.0' in table
    assert '| sola - linear | accuracy (points) | 5 | 3 | +30.0 |' in table
    assert 'first reached' not in table  # records without a curve: no iterations table


def test_iterations_to_solve_count_a_run_that_never_did_as_one_validation_past_the_end():
    budget = dict(max_iters=300, val_interval=30, letters='L')
    records = [dict(budget, layout=layout, distance=3, seed=seed, accuracy=accuracy,
                    iters_to_solve=solved)
               for layout, runs in (('sola', ((100.0, 60), (100.0, 90), (100.0, 60))),
                                    ('linear', ((100.0, 150), (55.0, None), (100.0, 240))))
               for seed, (accuracy, solved) in enumerate(runs)]
    rows = {row['layout']: row for row in summarise_layouts(records)}
    assert rows['sola']['mean_iters_to_solve'] == 70.0
    assert rows['linear']['iters_to_solve'] == {0: 150, 1: None, 2: 240}
    assert rows['linear']['mean_iters_to_solve'] == 240.0  # (150 + 330 + 240) / 3
    result = compare(records, 'sola', 'linear', 3, key='iters_to_solve')
    assert result['differences'] == [-90.0, -240.0, -180.0] and result['mean'] == -170.0
    table = format_study(records, [result])
    assert '| linear | 240 (0: 150, 1: never, 2: 240) |' in table
    assert '| sola - linear | iterations to 95 % | 3 | 3 | -170.0 |' in table


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
    """``subprocess.run`` of the training script replaced by a run logging 60 % at every
    validation (96 % at the one before the last for layouts with a softmax layer), then an
    accuracy made of the layout's softmax count, the distance and the seed (to tell runs apart)."""
    commands = []

    def run(command, **kwargs):
        commands.append(command)
        options = dict(item.split('=', 1) for item in command[command.index('--cfg-options') + 1:])
        accuracy = (70.0 + options['model.backbone.layout'].count('S') +
                    int(options['train_dataloader.dataset.distance']) / 10 +
                    int(options['randomness.seed']) / 100)
        validations = len(validation_iters(int(options['train_cfg.max_iters']),
                                           int(options['train_cfg.val_interval'])))
        before_last = 96.0 if 'S' in options['model.backbone.layout'] else 60.0
        curve = [60.0] * (validations - 2) + [before_last, accuracy]
        _write_run(command[command.index('--work-dir') + 1], '20990101_000000', curve)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(long_range.subprocess, 'run', run)
    return commands


def test_study_adds_every_run_to_the_ledger_and_resumes(tmp_path, fake_training):
    ledger = str(tmp_path / 'long_range.json')
    layouts = {'linear': 'L,L,LL,LL', 'sola': 'L,L,LS,LS'}
    records = run_long_range_study(CONFIG, layouts, [1, 3], [0, 1], ledger,
                                   str(tmp_path / 'runs'), jobs=2, max_iters=4)
    assert len(fake_training) == 8 and len(records) == 8
    on_disk = json.loads(open(ledger).read())
    found = {(r['layout'], r['distance'], r['seed']): r['accuracy'] for r in on_disk}
    assert found[('sola', 3, 1)] == pytest.approx(72.31) and found[('linear', 1, 0)] == 70.1
    assert all(r['max_iters'] == 4 and r['curve'][0] == 60.0 for r in on_disk)
    assert all(r['curve_iters'] == [1, 2, 3, 4] for r in on_disk)
    assert {r['layout']: r['iters_to_solve'] for r in on_disk} == {'linear': None, 'sola': 3}

    run_long_range_study(CONFIG, layouts, [1, 3], [0, 1], ledger, str(tmp_path / 'runs'),
                         max_iters=4)
    assert len(fake_training) == 8  # all in the ledger: nothing trained again

    # another machine: the ledger alone (no work dirs) is enough to skip, a new seed is trained
    records = run_long_range_study(CONFIG, layouts, [3], [0, 2], ledger,
                                   str(tmp_path / 'elsewhere'), max_iters=4)
    assert len(fake_training) == 10 and sorted(r['seed'] for r in records) == [0, 0, 2, 2]
    assert len(json.loads(open(ledger).read())) == 10

    # another budget is another run, also where the work dir holds the old budget's record
    records = run_long_range_study(CONFIG, {'sola': 'L,L,LS,LS'}, [3], [0], ledger,
                                   str(tmp_path / 'runs'), max_iters=6)
    assert len(fake_training) == 11 and [r['max_iters'] for r in records] == [6]


def test_a_failed_run_names_its_log_and_keeps_the_ledger(tmp_path, monkeypatch):
    ledger = tmp_path / 'long_range.json'
    ledger.write_text(json.dumps([dict(layout='x', letters='L', distance=1, seed=0,
                                       accuracy=50.0)]))
    monkeypatch.setattr(long_range.subprocess, 'run',
                        lambda command, **kw: subprocess.CompletedProcess(command, 1))
    with pytest.raises(RuntimeError, match='train_stdout.log'):
        run_long_range_study(CONFIG, {'sola': 'L,L,LS,LS'}, [1], [0], str(ledger),
                             str(tmp_path / 'runs'), max_iters=2)
    assert json.loads(ledger.read_text())[0]['layout'] == 'x'


def test_tool_refuses_bad_input_naming_it(tmp_path, capsys):
    tool = load_tool()
    assert tool.main(['--config', CONFIG, '--layouts', 'sola', 'hybrid']) == 2
    assert "['hybrid']" in capsys.readouterr().err
    assert tool.main(['--config', CONFIG, '--distances', '4']) == 2
    assert 'allows 1 to 3' in capsys.readouterr().err
    assert tool.main(['--config', CONFIG, '--iters', '1']) == 2
    assert '--iters 1' in capsys.readouterr().err
    (tmp_path / 'long_range.json').write_text('{"runs": []}')
    with pytest.raises(ValueError, match='long_range.json must hold a list'):
        tool.main(['--config', CONFIG, '--out-dir', str(tmp_path), '--layouts', 'sola'])


def test_tool_trains_reports_and_draws_the_trained_erf(tmp_path, monkeypatch):
    """One real (two-step) run per layout: ledger, summary, table, plot and ERF of both."""
    monkeypatch.chdir(tmp_path)
    tool = load_tool()
    assert tool.main(['--config', CONFIG, '--layouts', 'linear', 'sola', '--distances', '3',
                      '--seeds', '3', '--iters', '2', '--batch-size', '4', '--jobs', '2',
                      '--work-dir', 'runs', '--out-dir', 'report']) == 0
    records = json.loads((tmp_path / 'report' / 'long_range.json').read_text())
    assert sorted((r['layout'], r['seed'], r['distance']) for r in records) == [
        ('linear', 3, 3), ('sola', 3, 3)]
    assert all(0 <= r['accuracy'] <= 100 and r['val_boards'] == 500 and r['max_iters'] == 2
               for r in records)
    summary = json.loads((tmp_path / 'report' / 'long_range_summary.json').read_text())
    assert summary['comparisons'][0]['first'] == 'sola'
    assert summary['comparisons'][0]['seeds'] == [3]
    assert '| sola | `L,L,LS,LS` |' in (tmp_path / 'report' / 'long_range.md').read_text()
    assert (tmp_path / 'report' / 'long_range.png').stat().st_size > 10000
    erf = json.loads((tmp_path / 'report' / 'erf' / 'erf.json').read_text())
    assert [run['label'] for run in erf['runs']] == ['linear', 'sola']
    assert all(len(run['layers']) == 6 and run['checkpoint'].endswith('iter_2.pth')
               for run in erf['runs'])


def test_report_only_summarises_a_study_under_way_and_trains_nothing(tmp_path, fake_training):
    out = tmp_path / 'report'
    run_long_range_study(CONFIG, {'sola': 'L,L,LS,LS'}, [1], [0, 1], str(out / 'long_range.json'),
                         str(tmp_path / 'runs'), max_iters=4)
    assert len(fake_training) == 2
    tool = load_tool()
    argv = ['--config', CONFIG, '--layouts', 'sola', '--distances', '1', '--seeds', '0', '1', '2',
            '--iters', '4', '--out-dir', str(out), '--report-only', '--no-erf']
    assert tool.main(argv) == 0
    assert len(fake_training) == 2  # seed 2 is missing and stays missing
    assert '(n=2)' in (out / 'long_range.md').read_text()
    assert tool.main(argv[:-4] + ['--out-dir', str(tmp_path / 'empty'), '--report-only']) == 1
