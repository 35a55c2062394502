"""tools/analysis_tools/train_step_time.py: training-step times of checkouts side by side."""
import json
import os
import subprocess
import sys

from .conftest import TOOLS, run_tool

TOOL = os.path.join('analysis_tools', 'train_step_time.py')
CONFIG = os.path.join('configs', 'demo', 'sola-mini_shapes.py')


def test_times_each_checkout_in_its_own_process(shapes_workspace, tmp_path, repo_root):
    """A copy of mmsola in another folder is the one imported for that checkout."""
    other = tmp_path / 'other_checkout'
    os.makedirs(other)
    for folder in ('mmsola', 'configs'):
        os.symlink(os.path.join(repo_root, folder), other / folder)
    report = tmp_path / 'steps.json'
    out = run_tool(TOOL, CONFIG, '--checkouts', repo_root, str(other), '--steps', '2',
                   '--rounds', '1', '--json', str(report), cwd=shapes_workspace)
    assert f'{CONFIG} | {repo_root} | median ' in out
    assert 'time / first checkout 1.00' in out and f'| {other} | median ' in out
    times = json.loads(report.read_text())[CONFIG]
    assert [len(times[c]) for c in (repo_root, str(other))] == [2, 2]
    assert all(t > 0 for t in times[str(other)])


def test_a_checkout_without_the_config_is_named(shapes_workspace, tmp_path):
    out = subprocess.run([sys.executable, os.path.join(TOOLS, TOOL), CONFIG, '--checkouts',
                          str(tmp_path)], capture_output=True, text=True, cwd=shapes_workspace)
    assert out.returncode == 2
    assert f'no config {CONFIG} in checkout {tmp_path}' in out.stderr
