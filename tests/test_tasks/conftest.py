import os
import subprocess
import sys

import pytest

from mmsola.datasets import ShapesSpec, generate_shapes

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'configs')
DEMO_CONFIGS = dict(
    det=os.path.join(CONFIG_DIR, 'demo', 'mask-rcnn_sola-mini_fpn_shapes.py'),
    seg=os.path.join(CONFIG_DIR, 'demo', 'upernet_sola-mini_shapes.py'),
    cls=os.path.join(CONFIG_DIR, 'demo', 'sola-mini_shapes.py'),
)
# A handful of images in each layout: enough for a step, an evaluation and a picture.
MINIATURE = ShapesSpec(seed=3, image_size=64, num_train=6, num_val=3, max_objects=3,
                       cls_per_class_train=3, cls_per_class_val=2, min_visible_pixels=20)


@pytest.fixture(scope='session')
def shapes_workspace(tmp_path_factory):
    """A folder with data/shapes (the demo configs' relative data root) in miniature."""
    root = tmp_path_factory.mktemp('workspace')
    generate_shapes(str(root / 'data' / 'shapes'), MINIATURE)
    return root


TOOLS = os.path.join(os.path.dirname(os.path.dirname(DEMO_CONFIGS['det'])), os.pardir, 'tools')
TOOLS = os.path.abspath(TOOLS)
SHORT_RUN = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
             'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1']


def run_tool(script, *args, cwd):
    cmd = [sys.executable, os.path.join(TOOLS, script), *args]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f'{" ".join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}'
    return out.stdout + out.stderr


@pytest.fixture(scope='session')
def trained(shapes_workspace):
    """Two training iterations of each demo config; returns {task: work_dir}."""
    work_dirs = {}
    for task, config in DEMO_CONFIGS.items():
        work_dir = str(shapes_workspace / 'work_dirs' / task)
        run_tool('train.py', config, '--work-dir', work_dir, '--cfg-options', *SHORT_RUN,
                 cwd=shapes_workspace)
        work_dirs[task] = work_dir
    return work_dirs
