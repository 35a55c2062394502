"""mmsola.apis: a model from a config (and checkpoint), and its predictions, for all three tasks."""
import glob
import os

import mmcv
import pytest
from mmengine.config import Config

from mmsola.apis import TASK_OF_SCOPE, inference_model, init_model

from .conftest import DEMO_CONFIGS

NUM_CLASSES = 3  # the shapes: circle, square, triangle


def scene_images(workspace, task):
    pattern = 'cls/val/*/*.png' if task == 'cls' else 'images/val/*.png'
    return sorted(glob.glob(str(workspace / 'data' / 'shapes' / pattern)))[:2]


@pytest.mark.parametrize('task', ['cls', 'det', 'seg'])
def test_init_model_then_inference_model_on_files_and_arrays(task, trained, shapes_workspace,
                                                             monkeypatch):
    monkeypatch.chdir(shapes_workspace)  # the demo configs' data root is relative
    checkpoint = os.path.join(trained[task], 'iter_2.pth')
    model = init_model(DEMO_CONFIGS[task], checkpoint, device='cpu')
    assert TASK_OF_SCOPE[model.cfg.default_scope] == dict(
        cls='classification', det='detection', seg='segmentation')[task]
    assert not model.training
    paths = scene_images(shapes_workspace, task)
    single = inference_model(model, paths[0])
    from_arrays = inference_model(model, [mmcv.imread(path) for path in paths])
    from_files = inference_model(model, paths)
    assert isinstance(from_arrays, list) and len(from_arrays) == len(paths)
    height, width = mmcv.imread(paths[0]).shape[:2]
    for sample in [single, *from_arrays, *from_files]:
        assert tuple(sample.ori_shape) == (height, width)
        if task == 'cls':
            assert sample.pred_score.shape == (NUM_CLASSES, )
        elif task == 'det':
            assert sample.pred_instances.bboxes.shape[1] == 4
        else:
            assert sample.pred_sem_seg.data.shape[-2:] == (height, width)
    # an image read from its file and the file itself give the same prediction
    first_file, first_array = from_files[0], from_arrays[0]
    if task == 'cls':
        assert first_file.pred_score.allclose(first_array.pred_score)
    elif task == 'seg':
        assert first_file.pred_sem_seg.data.equal(first_array.pred_sem_seg.data)
    else:
        assert first_file.pred_instances.scores.allclose(first_array.pred_instances.scores)


def test_init_model_names_an_unsupported_scope(tmp_path):
    config = tmp_path / 'other.py'
    config.write_text("default_scope = 'mmocr'\nmodel = dict(type='X')\n")
    with pytest.raises(ValueError, match=r"default_scope 'mmocr'; mmsola builds models of"):
        init_model(Config.fromfile(str(config)))
