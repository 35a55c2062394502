"""scripts/setup_env.sh in a new, relatively named venv, from a pre-seeded wheel cache.

A fresh machine compiles mmcv (15 min); CI must not do that twice. The test venv therefore sees
this environment's packages (torch, the OpenMMLab libraries) through a path file, all but mmcv
and mmsola, which the script must install itself: mmcv from the seeded cache, mmsola editable.
That runs the step that once failed with a relative ``VENV`` (it runs after a ``cd``), and a
second run must change nothing and need no package index.
"""
import glob
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO_ROOT, 'scripts', 'setup_env.sh')
# What the script installs itself; everything else is shared from the running environment.
OWN_PREFIXES = ('mmcv', 'mmsola', '_mmsola', '__editable__', 'distutils-precedence')


def cached_mmcv_wheel() -> str:
    cache = os.environ.get('MMSOLA_CACHE_DIR', os.path.expanduser('~/.cache/mmsola'))
    wheels = glob.glob(os.path.join(cache, 'wheels', 'mmcv-*', 'mmcv-*.whl'))
    if not wheels:
        pytest.skip(f'no cached mmcv wheel under {cache}: make install was run another way')
    return wheels[0]


def run_setup(cwd, cache_dir) -> str:
    env = dict(os.environ, VENV='relative-venv', MMSOLA_CACHE_DIR=str(cache_dir),
               PIP_NO_INDEX='1')
    env.pop('PYTHON', None)
    out = subprocess.run(['bash', SCRIPT], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, f'{out.stdout[-4000:]}\n{out.stderr[-4000:]}'
    return out.stdout


@pytest.mark.timeout(900)
def test_relative_venv_installs_mmcv_from_cache_and_reruns_as_a_no_op(tmp_path):
    wheel = cached_mmcv_wheel()
    seeded = tmp_path / 'cache' / 'wheels' / os.path.basename(os.path.dirname(wheel))
    seeded.mkdir(parents=True)
    os.symlink(wheel, seeded / os.path.basename(wheel))

    shared = tmp_path / 'shared-site-packages'
    shared.mkdir()
    site_packages = sysconfig.get_paths()['purelib']
    for name in os.listdir(site_packages):
        if not name.startswith(OWN_PREFIXES) and not name.endswith('.pth'):
            os.symlink(os.path.join(site_packages, name), shared / name)
    venv = tmp_path / 'relative-venv'
    # pip, setuptools and the rest come from the shared folder, so the script sees a venv with
    # a working pip and keeps it.
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    venv_site = subprocess.run([str(venv / 'bin' / 'python'), '-c',
                                'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                               capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(venv_site, 'shared.pth'), 'w') as f:
        f.write(f'{shared}\n')

    first = run_setup(tmp_path, tmp_path / 'cache')
    assert f'using cached wheel {seeded}' in first
    assert 'mmcv' in first and 'mmsola' in first
    check = subprocess.run(
        [str(venv / 'bin' / 'python'), '-c',
         'import mmcv, mmcv.ops, mmsola; print(mmcv.__file__); print(mmsola.__file__)'],
        cwd='/', capture_output=True, text=True, check=True).stdout.split()
    assert check[0].startswith(str(venv))  # installed by the script, not shared
    assert check[1].startswith(REPO_ROOT)

    second = run_setup(tmp_path, tmp_path / 'cache')
    steps = [line for line in second.splitlines() if line.startswith('[setup ')]
    assert len(steps) == 6, second
    assert second.count('already installed') == 4, second
    assert 'Successfully installed' not in second and 'Installing' not in second
    shutil.rmtree(venv)
