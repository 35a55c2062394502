"""Shared pieces of the deployment tests: the demo configs (tiny SoLA-Vision), a miniature
shapes dataset, random-init checkpoints, and the tools loaded once into this process."""
import contextlib
import importlib.util
import io
import os

import pytest
import torch

from mmsola.datasets import ShapesSpec, generate_shapes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = dict(
    cls=os.path.join(REPO, 'configs', 'demo', 'sola-mini_shapes.py'),
    seg=os.path.join(REPO, 'configs', 'demo', 'upernet_sola-mini_shapes.py'),
    det=os.path.join(REPO, 'configs', 'demo', 'mask-rcnn_sola-mini_fpn_shapes.py'),
)
# Few images, every layout: enough for an evaluation of each task.
TINY_SHAPES = ShapesSpec(seed=5, image_size=64, num_train=2, num_val=4, max_objects=3,
                         cls_per_class_train=1, cls_per_class_val=3, min_visible_pixels=20)


def load_tool(*parts):
    """A tool script of tools/ as a module, so that its main(argv) runs in this process."""
    path = os.path.join(REPO, 'tools', *parts)
    spec = importlib.util.spec_from_file_location('tool_' + '_'.join(parts)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def deploy_workspace(tmp_path_factory):
    """A folder holding data/shapes (the demo configs' relative data root) in miniature."""
    root = tmp_path_factory.mktemp('deploy')
    generate_shapes(str(root / 'data' / 'shapes'), TINY_SHAPES)
    return root


def nearest_centroid_head(classifier, cwd):
    """Set the classifier's linear head to the centred mean feature of each class over the
    test set: predictions then follow the image (a random head gives one class for all)."""
    from mmengine.runner import Runner
    previous = os.getcwd()
    os.chdir(cwd)  # the demo configs' data root is relative
    try:
        features, labels = [], []
        for data in Runner.build_dataloader(classifier.cfg.test_dataloader):
            data = classifier.data_preprocessor(data, False)
            with torch.no_grad():
                features.append(classifier.extract_feat(data['inputs'])[-1])
            labels += [int(sample.gt_label) for sample in data['data_samples']]
    finally:
        os.chdir(previous)
    features, labels = torch.cat(features), torch.tensor(labels)
    centroids = torch.stack([features[labels == c].mean(0) for c in range(int(labels.max()) + 1)])
    classifier.head.fc.weight.data = (centroids - features.mean(0)) * 10
    classifier.head.fc.bias.data.zero_()


@pytest.fixture(scope='session')
def checkpoints(deploy_workspace):
    """task -> a checkpoint of the demo model, saved as MMEngine saves one: random weights
    (seeded), with a head that makes predictions depend on the image (the classifier's is a
    nearest-centroid head, the segmentor's last conv has larger weights than PyTorch's
    default init), so that a wrong pre- or post-processing changes the metrics."""
    from mmsola.apis import init_model
    paths = {}
    for task in ('cls', 'seg'):
        torch.manual_seed(0)
        model = init_model(CONFIGS[task])
        if task == 'cls':
            nearest_centroid_head(model, deploy_workspace)
        else:
            torch.nn.init.normal_(model.decode_head.conv_seg.weight, std=0.1)
        paths[task] = str(deploy_workspace / f'random_{task}.pth')
        torch.save(dict(state_dict=model.state_dict(), meta=dict()), paths[task])
    return paths


EXPORT_TOOL = load_tool('deployment', 'pytorch2onnx.py')


def export(*argv, expect=0):
    return_code = EXPORT_TOOL.main([str(a) for a in argv])
    assert return_code == expect
    return return_code


@pytest.fixture(scope='session')
def exported(checkpoints, tmp_path_factory):
    """task -> ONNX file, exported with dynamic shapes and verified by the tool itself at its
    default shapes; ``'<task>_log'`` -> what the tool printed."""
    folder = tmp_path_factory.mktemp('onnx')
    files = {}
    for task in ('cls', 'seg'):
        files[task] = str(folder / f'{task}.onnx')
        with contextlib.redirect_stdout(io.StringIO()) as log:
            export(CONFIGS[task], checkpoints[task], '--out', files[task], '--verify')
        files[f'{task}_log'] = log.getvalue()
    return files
