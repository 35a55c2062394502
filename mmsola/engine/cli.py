"""What ``tools/train.py`` and ``tools/test.py`` do to a config, shared by every task.

The tools are task-agnostic: the config's ``default_scope`` (``mmdet``, ``mmseg`` or
``mmpretrain``) decides which library's registries the Runner builds from.
"""
import argparse
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction

VISUALIZATION_HOOKS = ('DetVisualizationHook', 'SegVisualizationHook', 'VisualizationHook')


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='where to save logs and checkpoints '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. model.backbone.layout=linear '
        'train_dataloader.batch_size=4')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher for distributed runs (tools/dist_train.sh uses pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)


def load_config(config: str,
                work_dir: Optional[str] = None,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none') -> Config:
    """Read a config, apply ``--cfg-options`` and choose the work dir (CLI > config > name)."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config} does not exist')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    if cfg.get('default_scope') is None:
        raise ValueError(f'config {config} sets no `default_scope`; inherit a config of '
                         'mmdet, mmseg or mmpretrain, or set default_scope to one of them')
    return cfg


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to automatic mixed precision with dynamic loss scaling.

    Raises:
        RuntimeError: on a machine without CUDA, where MMEngine's ``AmpOptimWrapper`` cannot run.
    """
    import torch
    if not torch.cuda.is_available():
        raise RuntimeError('--amp needs a CUDA GPU: MMEngine\'s AmpOptimWrapper runs only on '
                           'GPUs (and NPU/MLU/MUSA devices); on this CPU-only machine train in '
                           'float32, without --amp')
    wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type == 'AmpOptimWrapper':
        return
    if wrapper_type != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, the config has '
                         f'{wrapper_type}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def enable_tensorboard(cfg: Config) -> None:
    """Add MMEngine's TensorBoard backend to the visualizer (scalars: losses, lr, metrics)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ImportError('--tensorboard needs the tensorboard package: '
                          'pip install tensorboard') from None
    backends = cfg.visualizer.setdefault('vis_backends', [dict(type='LocalVisBackend')])
    if not any(b.get('type') == 'TensorboardVisBackend' for b in backends):
        backends.append(dict(type='TensorboardVisBackend'))


def enable_resume(cfg: Config, resume: Optional[str]) -> None:
    """``'auto'``: the latest checkpoint of the work dir; a path: that checkpoint.

    Raises:
        FileNotFoundError: naming the work dir (or the file) when there is nothing to resume.
    """
    if resume == 'auto':
        if not osp.isfile(osp.join(cfg.work_dir, 'last_checkpoint')):
            raise FileNotFoundError(
                f'--resume: the work dir {cfg.work_dir} holds no checkpoint to resume from (no '
                'last_checkpoint file); train without --resume, or give --resume CKPT')
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume checkpoint {resume} does not exist')
        cfg.resume = True
        cfg.load_from = resume


def enable_visualization(cfg: Config, show_dir: str, interval: int = 1) -> None:
    """Make the task's visualization hook draw every ``interval``-th test image into
    ``show_dir``."""
    hook = cfg.get('default_hooks', {}).get('visualization')
    kind = hook and hook.get('type', '').split('.')[-1]
    if kind not in VISUALIZATION_HOOKS:
        raise ValueError('--show-dir needs default_hooks.visualization to be one of '
                         f'{VISUALIZATION_HOOKS}; the config has {hook}')
    show_dir = osp.abspath(show_dir)
    if kind == 'DetVisualizationHook':
        hook.update(draw=True, test_out_dir=show_dir, interval=interval)
    elif kind == 'SegVisualizationHook':
        hook.update(draw=True, interval=interval)
        cfg.visualizer.save_dir = show_dir
    else:
        hook.update(enable=True, out_dir=show_dir, interval=interval)
