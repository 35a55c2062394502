import os

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
