"""Multi-process training on CPUs (gloo) through MMEngine's Runner.

MMEngine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and wraps the model with
``device_ids=[LOCAL_RANK]``; both fail on a machine without GPUs. The tools therefore start the
gloo process group themselves (the Runner then skips its own initialisation) and wrap the model
with :class:`CPUDistributedDataParallel`. SyncBN, which the COCO and ADE20K configs use and
MMEngine keeps under a launcher, runs only on GPUs: it becomes plain BN (per-process statistics).
"""
from typing import Any

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel

from mmsola.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for a model on the CPU: ignores the GPU ``device_ids``."""

    def __init__(self, module, device_ids=None, **kwargs) -> None:
        super().__init__(module=module, device_ids=None, **kwargs)


SYNC_BATCHNORM_TYPES = ('SyncBN', 'MMSyncBN', 'TorchSyncBN')


def replace_sync_batchnorm(node: Any) -> int:
    """Turn every SyncBN norm config inside ``node`` (dicts and lists) into BN; returns how many."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') in SYNC_BATCHNORM_TYPES:
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += replace_sync_batchnorm(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += replace_sync_batchnorm(value)
    return count


def prepare_cpu_distributed(cfg: Config) -> bool:
    """Set up gloo data parallelism when launched with torchrun on a machine without CUDA.

    Returns:
        bool: whether the CPU path was taken.

    Raises:
        ValueError: for a launcher other than ``pytorch`` without CUDA.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return False
    if cfg.launcher != 'pytorch':
        raise ValueError(f'--launcher {cfg.launcher} needs GPUs; on CPUs use '
                         'tools/dist_train.sh (torchrun, --launcher pytorch) with the gloo backend')
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    replaced = replace_sync_batchnorm(cfg.model)
    if replaced:
        print_log(f'no CUDA device: {replaced} SyncBN norm config(s) of the model replaced by BN '
                  '(SyncBN needs GPUs)', logger='current')
    cfg.model_wrapper_cfg = dict(
        type='mmsola.CPUDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    print_log(f'no CUDA device: data parallelism over {torch_dist.get_world_size()} CPU '
              'processes with gloo', logger='current')
    return True
