"""mmsola used from another project: ``mmsola::`` configs, run by the libraries' own tools.

Everything here runs in a temporary folder outside the checkout, in fresh processes, as a user
of mmdet, mmseg or mmpretrain would: their packaged ``tools/train.py`` never imports mmsola, so
``_base_ = 'mmsola::...'`` must resolve through the start-up hook that the install places in
site-packages.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from mmsola.datasets import generate_shapes
from test_tasks.conftest import MINIATURE

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWO_ITERATIONS = '''
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
'''
# (library, its packaged tools folder, demo config, the metric its evaluator logs)
LIBRARIES = {
    'mmdet': ('demo/mask-rcnn_sola-mini_fpn_shapes.py', 'coco/bbox_mAP'),
    'mmseg': ('demo/upernet_sola-mini_shapes.py', 'mIoU'),
    'mmpretrain': ('demo/sola-mini_shapes.py', 'accuracy/top1'),
}


def run(command, cwd, timeout=600, env=None):
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         env=env)
    assert out.returncode == 0, (f'{" ".join(map(str, command))} failed in {cwd}:\n'
                                 f'{out.stdout[-3000:]}\n{out.stderr[-3000:]}')
    return out


def library_tool(library: str, script: str) -> str:
    """The tool that ships inside the installed library (``<package>/.mim/tools``)."""
    import importlib
    package_dir = os.path.dirname(importlib.import_module(library).__file__)
    path = os.path.join(package_dir, '.mim', 'tools', script)
    assert os.path.isfile(path), f'{library} does not ship {path}'
    return path


def last_validation_metrics(work_dir: str) -> dict:
    """The last line of the run's scalars that holds a metric (what the evaluator logged)."""
    scalars = glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert scalars, f'no scalars.json under {work_dir}'
    with open(scalars[0]) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return [line for line in lines if 'loss' not in line][-1]


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    """Another project's folder: tiny shapes data in data/shapes, nothing of the checkout."""
    root = tmp_path_factory.mktemp('downstream')
    generate_shapes(str(root / 'data' / 'shapes'), MINIATURE)
    return root


def write_config(project, library: str) -> str:
    base, _ = LIBRARIES[library]
    path = project / f'my_{library}_config.py'
    path.write_text(f"_base_ = 'mmsola::{base}'\n{TWO_ITERATIONS}")
    return str(path)


def test_config_resolves_in_a_process_that_never_imports_mmsola(project):
    config = write_config(project, 'mmdet')
    code = textwrap.dedent(f"""\
        import sys
        from mmengine.config import Config
        cfg = Config.fromfile({config!r})
        print(cfg.model.backbone.type, 'mmsola' in sys.modules)
        """)
    out = run([sys.executable, '-c', code], cwd=project)
    assert out.stdout.split() == ['mmsola.SoLAVision', 'False']


@pytest.mark.parametrize('base', [
    'mask_rcnn/mask-rcnn_sola-t_fpn_1x_coco.py',
    'upernet/upernet_sola-t_8xb2-160k_ade20k-512x512.py',
    'mala/mask-rcnn_mala-t_fpn_1x_coco.py',
    'ravlt/upernet_ravlt-t_8xb2-160k_ade20k-512x512.py',
])
def test_adding_your_own_weights_to_a_shipped_config_is_one_line(project, base):
    """No _delete_ and no copy of the backbone: the user names only the checkpoint."""
    path = project / 'with_my_weights.py'
    path.write_text(f"_base_ = 'mmsola::{base}'\n"
                    "model = dict(backbone=dict(init_cfg=dict(type='Pretrained', "
                    "checkpoint='my.pth', prefix='backbone.')))\n")
    code = textwrap.dedent(f"""\
        from mmengine.config import Config
        cfg = Config.fromfile({str(path)!r})
        print(cfg.model.backbone.init_cfg.checkpoint, cfg.model.backbone.init_cfg.prefix)
        """)
    out = run([sys.executable, '-c', code], cwd=project)
    assert out.stdout.split() == ['my.pth', 'backbone.']


@pytest.mark.parametrize('library', sorted(LIBRARIES))
def test_library_train_tool_trains_and_evaluates_an_mmsola_config(project, library):
    config = write_config(project, library)
    work_dir = project / 'work_dirs' / library
    run([sys.executable, library_tool(library, 'train.py'), config, '--work-dir', str(work_dir)],
        cwd=project)
    _, metric = LIBRARIES[library]
    metrics = last_validation_metrics(str(work_dir))
    assert metric in metrics, metrics
    assert os.path.isfile(work_dir / 'iter_2.pth')


def test_project_train_tool_takes_a_config_kept_outside_the_checkout(project):
    config = write_config(project, 'mmdet')
    work_dir = project / 'work_dirs' / 'mmsola_tool'
    run([sys.executable, os.path.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir',
         str(work_dir)], cwd=project)
    assert 'coco/bbox_mAP' in last_validation_metrics(str(work_dir))
    assert os.path.isfile(work_dir / 'iter_2.pth')


def test_example_downstream_project_runs_outside_the_checkout(project, tmp_path):
    """examples/downstream_project copied elsewhere, with COCO-format data of its own classes."""
    example = tmp_path / 'downstream_project'
    shutil.copytree(os.path.join(REPO_ROOT, 'examples', 'downstream_project'), example)
    fruits = example / 'data' / 'fruits'
    names = {'square': 'apple', 'circle': 'banana', 'triangle': 'cherry'}
    shapes = project / 'data' / 'shapes'
    for split in ('train', 'val'):
        shutil.copytree(shapes / 'images' / split, fruits / split)
        with open(shapes / 'annotations' / f'instances_{split}.json') as f:
            coco = json.load(f)
        for category in coco['categories']:
            category['name'] = names[category['name']]
        (fruits / 'annotations').mkdir(exist_ok=True)
        with open(fruits / 'annotations' / f'{split}.json', 'w') as f:
            json.dump(coco, f)
    config = glob.glob(str(example / 'configs' / '*.py'))[0]
    # its recipe is the 1x COCO schedule: one epoch of the 6 images, at 128 x 128
    small = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
             'train_dataloader.dataset.pipeline.2.scale=(128,128)',
             'val_dataloader.dataset.pipeline.1.scale=(128,128)',
             'default_hooks.checkpoint.interval=1']
    work_dir = example / 'work_dirs' / 'fruits'
    run([sys.executable, library_tool('mmdet', 'train.py'), config, '--work-dir', str(work_dir),
         '--cfg-options', *small], cwd=example)
    assert 'coco/bbox_mAP' in last_validation_metrics(str(work_dir))
    assert os.path.isfile(work_dir / 'epoch_1.pth')
