"""`_base_ = 'mmsola::...'` resolves from another project, for editable and normal installs."""
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest
from mmengine.config import Config

import mmsola  # noqa: F401  (registers the mmsola:: config scope)

DET_CONFIG = 'mask_rcnn/mask-rcnn_sola-t_fpn_1x_coco.py'


def write_downstream_config(folder) -> str:
    path = os.path.join(folder, 'my_detector.py')
    with open(path, 'w') as f:
        f.write(textwrap.dedent(f"""\
            _base_ = 'mmsola::{DET_CONFIG}'
            model = dict(roi_head=dict(bbox_head=dict(num_classes=3)))
            """))
    return path


def test_editable_install_resolves_mmsola_configs(tmp_path):
    cfg = Config.fromfile(write_downstream_config(tmp_path))
    assert cfg.model.backbone.type == 'mmsola.SoLAVision'
    assert cfg.model.roi_head.bbox_head.num_classes == 3
    assert cfg.model.neck.in_channels == [64, 128, 256, 512]


@pytest.mark.timeout(600)
def test_wheel_ships_configs_and_resolves_them(tmp_path, repo_root):
    """Build a wheel from a copy of the checkout, install it apart, resolve from outside."""
    source = tmp_path / 'src'
    top_level_only = {'.venv', '.git', 'work_dirs', 'data', 'build', 'dist'}

    def ignore(folder, names):
        ignored = {n for n in names if n.endswith('.egg-info') or n in ('__pycache__', '.mim')}
        if os.path.samefile(folder, repo_root):
            ignored |= top_level_only & set(names)
        return ignored

    shutil.copytree(repo_root, source, ignore=ignore)
    wheels = tmp_path / 'wheels'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                    '-q', '-w', str(wheels), str(source)], check=True)
    wheel = next(wheels.glob('mmsola-*.whl'))
    names = zipfile.ZipFile(wheel).namelist()
    assert f'mmsola/.mim/configs/{DET_CONFIG}' in names
    assert 'mmsola/.mim/tools/train.py' in names
    assert 'mmsola/.mim/tools/data/generate_shapes.py' in names
    assert 'mmsola-config-scope.pth' in names and '_mmsola_config_scope.py' in names

    target = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target',
                    str(target), str(wheel)], check=True)
    elsewhere = tmp_path / 'project'
    elsewhere.mkdir()
    config = write_downstream_config(elsewhere)
    # `python -S`: no site folder processed, so neither the checkout's editable install nor its
    # start-up hook is there. The wheel's folder becomes a site folder (its .pth processed);
    # the libraries' folder is only put on the path. mmsola is not imported before parsing.
    libraries = sysconfig.get_paths()['purelib']
    code = ('import site, sys\n'
            f'site.addsitedir({str(target)!r})\n'
            f'sys.path.append({libraries!r})\n'
            'from mmengine.config import Config\n'
            f'cfg = Config.fromfile({config!r})\n'
            "print('mmsola' in sys.modules)\n"
            'import mmsola\n'
            'print(mmsola.__file__)\n'
            'print(cfg.model.backbone.type)')
    out = subprocess.run([sys.executable, '-S', '-c', code], cwd=elsewhere,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == 'False'
    assert out[1].startswith(str(target))  # the wheel's copy, not the checkout
    assert out[2] == 'mmsola.SoLAVision'
