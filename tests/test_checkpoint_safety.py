"""torch >= 2.6 safe loading: mmengine checkpoints load and resume, arbitrary objects do not."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from torch.utils.data import Dataset

import mmsola  # noqa: F401  (installs the allow-list and the safe loader)
from mmsola.utils import UnsafeCheckpointError, trusted_checkpoint_loading


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='tensor'):
        inputs, targets = torch.stack(inputs), torch.stack(targets)
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out - targets)**2).mean())
        return out


class ToyDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(inputs=torch.full((2, ), float(index)), targets=torch.tensor([1.0]))


def make_runner(work_dir, max_iters, resume=False, load_from=None):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=4),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=1000),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        resume=resume,
        load_from=load_from,
        randomness=dict(seed=0),
        experiment_name='toy',
        default_scope='mmengine')


def test_runner_checkpoint_resumes_with_safe_loading(tmp_path):
    runner = make_runner(tmp_path, max_iters=4)
    runner.message_hub.update_info('numpy_scalar', np.float64(0.25))
    runner.train()
    ckpt = osp.join(tmp_path, 'iter_4.pth')
    assert osp.isfile(ckpt)

    # torch's own safe loader accepts the file once mmsola's allow-list is in place ...
    raw = torch.load(ckpt, weights_only=True)
    assert 'message_hub' in raw and 'meta' in raw
    # ... and mmengine's load_checkpoint and Runner resume go through it.
    model = ToyModel()
    load_checkpoint(model, ckpt)
    assert torch.equal(model.linear.weight, runner.model.linear.weight)

    resumed = make_runner(tmp_path / 'resumed', max_iters=6, resume=True, load_from=ckpt)
    resumed.train()
    assert resumed.iter == 6
    assert resumed.message_hub.get_info('numpy_scalar') == 0.25
    assert len(resumed.message_hub.get_scalar('train/loss').data[0]) >= 4


class CustomMeta:
    """A harmless custom object, as older training code sometimes saved in checkpoints."""

    note = 'custom'


class Payload:
    """Stands for any object a checkpoint should not be able to smuggle in."""

    def __reduce__(self):
        return (print, ('this would run on load',))


def test_arbitrary_object_is_refused_with_guidance(tmp_path):
    ckpt = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'extra': Payload()}, ckpt)
    model = nn.Linear(2, 1)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(model, ckpt)
    message = str(info.value)
    assert ckpt in message
    assert 'print' in message  # names the refused global
    assert 'trusted_checkpoint_loading' in message and 'add_safe_globals' in message
    assert isinstance(info.value, pickle.UnpicklingError)


def test_trusted_block_loads_full_pickles_on_purpose(tmp_path):
    ckpt = str(tmp_path / 'custom.pth')
    torch.save({'state_dict': nn.Linear(2, 1).state_dict(), 'extra': CustomMeta()}, ckpt)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(nn.Linear(2, 1), ckpt)
    with trusted_checkpoint_loading():
        load_checkpoint(nn.Linear(2, 1), ckpt)
    with pytest.raises(UnsafeCheckpointError):  # trust ends with the block
        load_checkpoint(nn.Linear(2, 1), ckpt)


def test_safe_loading_stays_on_globally(tmp_path):
    """Plain torch.load still refuses the payload: nothing switched safe loading off."""
    ckpt = str(tmp_path / 'evil.pth')
    torch.save({'extra': Payload()}, ckpt)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt)


@pytest.mark.parametrize('owner,name', [('OrderedDict', 'fromkeys'),
                                        ('HistoryBuffer', '__init__')])
def test_getattr_stand_in_only_reaches_history_buffer_methods(tmp_path, owner, name):
    """HistoryBuffer pickles getattr(HistoryBuffer, 'min'); any other getattr stays refused."""
    from collections import OrderedDict

    from mmengine.logging import HistoryBuffer
    target = dict(OrderedDict=OrderedDict, HistoryBuffer=HistoryBuffer)[owner]

    class Lookup:

        def __reduce__(self):
            return (getattr, (target, name))

    ckpt = str(tmp_path / 'getattr.pth')
    torch.save({'state_dict': {}, 'extra': Lookup()}, ckpt)
    with pytest.raises(UnsafeCheckpointError, match='only methods of mmengine HistoryBuffer'):
        load_checkpoint(nn.Linear(2, 1), ckpt)


def test_empty_numpy_arrays_and_history_buffers_load(tmp_path):
    """Pickle protocol 2 writes an empty array's data as bytes(); that is not refused."""
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import _load_checkpoint
    ckpt = str(tmp_path / 'empty.pth')
    torch.save({'meta': {'x': np.array([]), 'buffer': HistoryBuffer()}, 'state_dict': {}}, ckpt)
    loaded = _load_checkpoint(ckpt)
    assert loaded['meta']['x'].shape == (0, )
    assert len(loaded['meta']['buffer'].data[0]) == 0


@pytest.mark.parametrize('size', [10, 2**40])
def test_bytes_stand_in_builds_only_empty_bytes(tmp_path, size):
    class Allocation:

        def __reduce__(self):
            return (bytes, (size, ))

    ckpt = str(tmp_path / 'bytes.pth')
    torch.save({'state_dict': {}, 'extra': Allocation()}, ckpt)
    with pytest.raises(UnsafeCheckpointError, match=rf'bytes\({size},\)'):
        load_checkpoint(nn.Linear(2, 1), ckpt)
