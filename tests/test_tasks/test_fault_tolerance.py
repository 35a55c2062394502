"""Kill-and-resume, atomic checkpoints, two-process CPU training and TensorBoard logging."""
import glob
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

import mmsola  # noqa: F401  (safe loading of mmengine checkpoints)
from mmsola.utils.atomic_io import AtomicLocalBackend

from .conftest import DEMO_CONFIGS, TOOLS


def short_run(max_iters, interval):
    return ['--cfg-options', f'train_cfg.max_iters={max_iters}',
            f'train_cfg.val_interval={max_iters}', f'default_hooks.checkpoint.interval={interval}',
            'default_hooks.checkpoint.max_keep_ckpts=20', 'default_hooks.logger.interval=1']


def test_sigkill_then_resume_finishes_the_schedule(shapes_workspace, tmp_path):
    work_dir = tmp_path / 'run'
    train = [sys.executable, os.path.join(TOOLS, 'train.py'), DEMO_CONFIGS['cls'],
             '--work-dir', str(work_dir)]
    proc = subprocess.Popen(train + short_run(10, 2), cwd=shapes_workspace,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (work_dir / 'iter_4.pth').exists():
        assert proc.poll() is None, 'training ended before it could be killed'
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (work_dir / 'iter_10.pth').exists()
    for checkpoint in work_dir.glob('iter_*.pth'):  # everything under a final name is whole
        assert torch.load(checkpoint, weights_only=True)['meta']['iter'] == int(
            checkpoint.stem.split('_')[1])

    out = subprocess.run(train + ['--resume'] + short_run(10, 2), cwd=shapes_workspace,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'resumed' in (out.stdout + out.stderr).lower()
    final = torch.load(work_dir / 'iter_10.pth', weights_only=True)
    assert final['meta']['iter'] == 10


def test_atomic_put_leaves_nothing_behind_on_failure(tmp_path, monkeypatch):
    backend = AtomicLocalBackend()
    target = tmp_path / 'iter_2.pth'
    backend.put(b'first', target)

    def crash(fd):
        raise OSError('disk went away')

    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(OSError, match='disk went away'):
        backend.put(b'second, longer', target)
    assert target.read_bytes() == b'first'  # the old file is intact
    assert os.listdir(tmp_path) == ['iter_2.pth']  # no partial file left


def test_atomic_put_gives_files_the_mode_open_would(tmp_path):
    """New files follow the umask (mkstemp alone makes them 0600: teammates could not read a
    checkpoint); a replaced file keeps its mode."""
    backend = AtomicLocalBackend()
    old = os.umask(0o022)
    try:
        backend.put(b'weights', tmp_path / 'epoch_1.pth')
        assert os.stat(tmp_path / 'epoch_1.pth').st_mode & 0o777 == 0o644
        os.chmod(tmp_path / 'epoch_1.pth', 0o640)
        backend.put(b'newer weights', tmp_path / 'epoch_1.pth')
        assert os.stat(tmp_path / 'epoch_1.pth').st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_two_processes_train_with_gloo(shapes_workspace, tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(port))
    work_dir = tmp_path / 'dist'
    out = subprocess.run(
        ['bash', os.path.join(TOOLS, 'dist_train.sh'), DEMO_CONFIGS['cls'], '2', '--work-dir',
         str(work_dir)] + short_run(4, 4),
        cwd=shapes_workspace, env=env, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert 'data parallelism over 2 CPU processes with gloo' in log
    assert torch.load(work_dir / 'iter_4.pth', weights_only=True)['meta']['iter'] == 4


# The shipped COCO and ADE20K configs normalise with SyncBN; the demo configs switch it off.
SYNC_BATCHNORM = dict(
    det=['model.backbone.conv_norm_cfg.type=SyncBN'],
    seg=['model.backbone.conv_norm_cfg.type=SyncBN', 'model.decode_head.norm_cfg.type=SyncBN',
         'model.auxiliary_head.norm_cfg.type=SyncBN'])


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_two_processes_train_a_syncbn_config_on_cpu(shapes_workspace, tmp_path, task):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(port))
    work_dir = tmp_path / task
    out = subprocess.run(
        ['bash', os.path.join(TOOLS, 'dist_train.sh'), DEMO_CONFIGS[task], '2', '--work-dir',
         str(work_dir)] + short_run(1, 1) + SYNC_BATCHNORM[task],
        cwd=shapes_workspace, env=env, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    replaced = len(SYNC_BATCHNORM[task])
    assert f'{replaced} SyncBN norm config(s) of the model replaced by BN' in log
    assert torch.load(work_dir / 'iter_1.pth', weights_only=True)['meta']['iter'] == 1


def test_tensorboard_flag_writes_event_files(shapes_workspace, tmp_path):
    work_dir = tmp_path / 'tb'
    out = subprocess.run(
        [sys.executable, os.path.join(TOOLS, 'train.py'), DEMO_CONFIGS['cls'], '--work-dir',
         str(work_dir), '--tensorboard'] + short_run(2, 2),
        cwd=shapes_workspace, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert glob.glob(str(work_dir / '*' / 'vis_data' / 'events.out.tfevents.*'))
