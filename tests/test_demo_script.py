"""scripts/demo.sh refuses what would mix or lose results, before it trains anything.

The full run takes 21-27 minutes on this machine kind (README); these checks cover what it
does before the first step: bad knobs are named, and a run folder that exists already is never
written into.
"""
import os
import subprocess
import time

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


def test_a_failed_fine_tune_stops_the_other_and_shows_its_log(tmp_path):
    """The two fine-tunes run side by side: when one fails, the demo stops the other (its
    python process too), prints the end of the failed one's log and exits non-zero."""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    seg_pid = tmp_path / 'seg.pid'
    # a stand-in interpreter: data generation succeeds, the detector fails after a second, the
    # segmentor would train for a minute
    (venv / 'bin' / 'python').write_text(f"""#!/usr/bin/env bash
case "$*" in
  *generate_shapes*) exit 0;;
  *train.py*mask-rcnn*) sleep 1; echo "KeyError: broken detector config"; exit 3;;
  *train.py*upernet*) echo $$ > {seg_pid}; sleep 60; exit 0;;
esac
exit 0
""")
    (venv / 'bin' / 'python').chmod(0o755)
    started = time.time()
    out = run_demo(tmp_path, VENV=str(venv), DEMO_PRETRAIN='0', DEMO_RUN='broken')
    assert out.returncode == 1, out.stdout + out.stderr
    assert time.time() - started < 30
    assert 'fine-tuning det failed' in out.stderr
    assert 'KeyError: broken detector config' in out.stderr
    pid = int(seg_pid.read_text())
    for _ in range(20):  # SIGTERM is delivered at once; give the process a moment to go
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f'the segmentor (pid {pid}) was left running')
