"""Layer-wise lr decay for every task, and the config handling of the tools."""
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmsola.apis import build_model
from mmsola.engine.cli import enable_amp, enable_resume, enable_visualization, load_config

from .conftest import DEMO_CONFIGS


@pytest.mark.parametrize('task', ['det', 'seg', 'cls'])
def test_layer_decay_constructor_works_for_every_task(task):
    cfg = Config.fromfile(DEMO_CONFIGS[task])
    model = build_model(cfg)
    wrapper = build_optim_wrapper(
        model,
        dict(constructor='mmsola.LayerDecayOptimWrapperConstructor',
             optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
             paramwise_cfg=dict(layer_decay_rate=0.5)))
    groups = {g['param_name']: g for g in wrapper.optimizer.param_groups}
    num_layers = sum(model.backbone.depths) + 2
    stem = groups['backbone.stem.0.conv.weight']
    assert stem['lr'] == pytest.approx(1e-3 * 0.5**(num_layers - 1))
    last_block = groups['backbone.stages.3.blocks.0.ffn.fc1.weight']
    assert last_block['lr'] == pytest.approx(1e-3 * 0.5)
    heads = [g for name, g in groups.items() if not name.startswith('backbone.')]
    assert heads and all(g['lr'] == pytest.approx(1e-3) for g in heads)


def test_layer_decay_constructor_names_what_is_missing():
    import torch.nn as nn
    with pytest.raises(TypeError, match='needs a model with `get_layer_depth`'):
        build_optim_wrapper(
            nn.Linear(2, 2),
            dict(constructor='mmsola.LayerDecayOptimWrapperConstructor',
                 optimizer=dict(type='AdamW', lr=1e-3), paramwise_cfg=dict(layer_decay_rate=0.5)))


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.py'):
        load_config(str(tmp_path / 'nope.py'))
    bare = tmp_path / 'bare.py'
    bare.write_text('model = dict(type="mmsola.SoLAVision")\n')
    with pytest.raises(ValueError, match='sets no `default_scope`'):
        load_config(str(bare))


def test_tool_switches(tmp_path, monkeypatch):
    cfg = load_config(DEMO_CONFIGS['det'], cfg_options={'train_cfg.max_iters': 7})
    assert cfg.train_cfg.max_iters == 7
    assert cfg.work_dir == os.path.join('./work_dirs', 'mask-rcnn_sola-mini_fpn_shapes')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)  # --amp needs CUDA
    enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    cfg.work_dir = str(tmp_path)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_7.pth'))
    enable_resume(cfg, 'auto')
    assert cfg.resume is True and cfg.load_from is None
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        enable_resume(cfg, str(tmp_path / 'missing.pth'))
    enable_visualization(cfg, str(tmp_path / 'show'))
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.default_hooks.visualization.test_out_dir == str(tmp_path / 'show')
