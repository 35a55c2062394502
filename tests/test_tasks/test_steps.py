"""One training step and one prediction of each task model, on the miniature shapes data."""
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, init_default_scope

from mmsola.apis import build_model

from .conftest import DEMO_CONFIGS


def first_batch(cfg: Config, split: str, size: int):
    init_default_scope(cfg.default_scope)
    dataset = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
    return pseudo_collate([dataset[i] for i in range(size)])


@pytest.mark.parametrize('task', ['det', 'seg', 'cls'])
def test_train_step_and_predict(task, shapes_workspace, monkeypatch):
    monkeypatch.chdir(shapes_workspace)  # the demo configs read data/shapes
    cfg = Config.fromfile(DEMO_CONFIGS[task])
    model = build_model(cfg)
    model.init_weights()
    model.train()
    batch = first_batch(cfg, 'train', 2)
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    backbone_grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert all(g is not None for g in backbone_grads)
    assert sum(g.abs().sum() for g in backbone_grads) > 0

    model.eval()
    with torch.no_grad():
        predictions = model.test_step(first_batch(cfg, 'val', 2))
    assert len(predictions) == 2
    if task == 'det':
        assert {'bboxes', 'scores', 'labels', 'masks'} <= set(predictions[0].pred_instances.keys())
    elif task == 'seg':
        assert predictions[0].pred_sem_seg.data.shape[-2:] == (64, 64)
    else:
        assert predictions[0].pred_score.shape == (3, )
