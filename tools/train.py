"""Train any mmsola config: classification, detection or segmentation.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options ...]
"""
import argparse

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmsola.engine import prepare_cpu_distributed
from mmsola.engine.cli import (add_common_arguments, enable_amp, enable_resume,
                               enable_tensorboard, load_config)


def parse_train_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model from an mmsola config')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from CKPT, or from the latest checkpoint of the work dir if none is given')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--tensorboard', action='store_true',
                        help='also write TensorBoard scalars under <work-dir>/<timestamp>/vis_data')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the real batch size (config: auto_scale_lr)')
    add_common_arguments(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_train_args()
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ValueError('--auto-scale-lr needs `auto_scale_lr` (base_batch_size) in the '
                             'config')
        cfg.auto_scale_lr.enable = True
    if args.tensorboard:
        enable_tensorboard(cfg)
    enable_resume(cfg, args.resume)
    prepare_cpu_distributed(cfg)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
