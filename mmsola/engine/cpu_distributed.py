"""Multi-process training on CPUs (gloo) through MMEngine's Runner.

MMEngine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and wraps the model with
``device_ids=[LOCAL_RANK]``; both fail on a machine without GPUs. The tools therefore start the
gloo process group themselves (the Runner then skips its own initialisation) and wrap the model
with :class:`CPUDistributedDataParallel`.
"""
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for a model on the CPU: ignores the GPU ``device_ids``."""

    def __init__(self, module, device_ids=None, **kwargs) -> None:
        super().__init__(module=module, device_ids=None, **kwargs)


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
    cfg.model_wrapper_cfg = dict(
        type='CPUDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    print_log(f'no CUDA device: data parallelism over {torch_dist.get_world_size()} CPU '
              'processes with gloo', logger='current')
    return True
