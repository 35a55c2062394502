"""scripts/demo.sh refuses what would mix or lose results, before it trains anything.

The full run takes 17-30 minutes depending on the machine (README); these checks cover what it
does before the first step: bad knobs are named, and a run folder that exists already is never
written into.
"""
import os
import subprocess

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO_ROOT, 'scripts', 'demo.sh')


def run_demo(tmp_path, **env):
    env = dict(os.environ, WORK_DIR=str(tmp_path / 'work_dirs'), **env)
    return subprocess.run(['bash', SCRIPT], env=env, capture_output=True, text=True, timeout=60)


def test_an_existing_run_folder_is_refused_and_left_as_it_is(tmp_path):
    run_dir = tmp_path / 'work_dirs' / 'demo' / 'first'
    run_dir.mkdir(parents=True)
    (run_dir / 'metafile.yml').write_text('Models: []\n')
    out = run_demo(tmp_path, DEMO_RUN='first')
    assert out.returncode == 2
    assert 'exists already' in out.stderr and str(run_dir) in out.stderr
    assert sorted(os.listdir(run_dir)) == ['metafile.yml']
    assert (run_dir / 'metafile.yml').read_text() == 'Models: []\n'


def test_bad_knobs_are_named(tmp_path):
    out = run_demo(tmp_path, DEMO_SEED='one')
    assert out.returncode == 2 and 'DEMO_SEED' in out.stderr and "'one'" in out.stderr
    out = run_demo(tmp_path, DEMO_PRETRAIN='yes')
    assert out.returncode == 2 and 'DEMO_PRETRAIN' in out.stderr
    assert not (tmp_path / 'work_dirs').exists()
