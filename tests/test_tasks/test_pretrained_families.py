"""A MALA-T checkpoint in its authors' own format, converted, starts the configs/mala detector
and segmentor through tools/train.py (a few iterations on the embedded shapes data)."""
import os

import pytest
import torch
from mmengine.config import Config

from family_checkpoints import save_family_checkpoint  # tests/family_checkpoints.py

from .conftest import CONFIG_DIR, DEMO_CONFIGS, SHORT_RUN, run_tool

# The task configs' model and optimiser; the demo configs' data, schedule and hooks.
DEMO_PARTS = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
              'test_evaluator', 'train_cfg', 'val_cfg', 'test_cfg', 'param_scheduler',
              'default_hooks', 'log_processor', 'randomness')


def on_demo_data(config: str, demo_config: str, checkpoint: str, out: str) -> str:
    """``config`` with the data, schedule and class count of ``demo_config``; written to ``out``."""
    cfg, demo = Config.fromfile(config), Config.fromfile(demo_config)
    for part in DEMO_PARTS:
        cfg[part] = demo[part]
    if 'roi_head' in cfg.model:
        for head in ('bbox_head', 'mask_head'):
            cfg.model.roi_head[head].num_classes = demo.model.roi_head[head].num_classes
    else:
        cfg.model.data_preprocessor = demo.model.data_preprocessor
        for head in ('decode_head', 'auxiliary_head'):
            cfg.model[head].num_classes = demo.model[head].num_classes
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    cfg.dump(out)
    return out


@pytest.fixture(scope='module')
def converted_mala_t(shapes_workspace):
    source = str(shapes_workspace / 'MALA_T.pth')
    state = save_family_checkpoint(source, 'mala')
    converted = str(shapes_workspace / 'checkpoints' / 'mala-t_in1k.pth')
    out = run_tool(os.path.join('model_converters', 'mala_ravlt_to_mmsola.py'), 'mala', source,
                   converted, cwd=shapes_workspace)
    assert 'MALA tiny (classification, from model)' in out
    return converted, state


@pytest.mark.parametrize('task,config', [
    ('det', 'mala/mask-rcnn_mala-t_fpn_1x_coco.py'),
    ('seg', 'mala/upernet_mala-t_8xb2-160k_ade20k-512x512.py'),
])
def test_mala_t_weights_start_the_dense_configs(task, config, converted_mala_t,
                                                shapes_workspace):
    checkpoint, state = converted_mala_t
    cfg_path = on_demo_data(os.path.join(CONFIG_DIR, config), DEMO_CONFIGS[task], checkpoint,
                            str(shapes_workspace / f'mala_{task}.py'))
    work_dir = str(shapes_workspace / 'work_dirs' / f'mala_{task}')
    log = run_tool('train.py', cfg_path, '--work-dir', work_dir, '--cfg-options', *SHORT_RUN,
                   'default_hooks.checkpoint.save_last=True', cwd=shapes_workspace)
    assert f'in model from: {checkpoint}' in log
    # every backbone weight but the dense outputs' norms, which the classifier does not have
    missing = log.split('missing keys in source state_dict: ')[1].splitlines()[0]
    assert missing.split(', ') == [f'norm{i}.{p}' for i in range(4) for p in ('weight', 'bias')]
    assert 'unexpected key' not in log
    trained = torch.load(os.path.join(work_dir, 'iter_2.pth'), weights_only=False)['state_dict']
    # stage 1's first depthwise conv is a weight the two steps barely move from MALA-T's value
    loaded = trained['backbone.stages.0.blocks.0.cpe.weight']
    torch.testing.assert_close(loaded, state['layers.0.blocks.0.pos.weight'], atol=1e-2,
                               rtol=0)
    assert not torch.equal(loaded, state['layers.0.blocks.0.pos.weight'])
