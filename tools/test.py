"""Evaluate a checkpoint of any mmsola config with its library's metric.

    python tools/test.py CONFIG CHECKPOINT [--show-dir DIR] [--work-dir DIR] [--cfg-options ...]
"""
import argparse
import os.path as osp

from mmengine.fileio import dump
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmsola.engine import prepare_cpu_distributed
from mmsola.engine.cli import add_common_arguments, enable_visualization, load_config


def parse_test_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint of an mmsola config')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--show-dir', help='write images with the predictions drawn here')
    parser.add_argument('--show-interval', type=int, default=1,
                        help='draw every n-th test image (default: all)')
    add_common_arguments(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_test_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_visualization(cfg, args.show_dir, args.show_interval)
    prepare_cpu_distributed(cfg)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    metrics = runner.test()
    metrics_file = osp.join(cfg.work_dir, 'test_metrics.json')
    dump(dict(config=args.config, checkpoint=args.checkpoint, metrics=metrics), metrics_file,
         indent=2, default=float)
    runner.logger.info(f'metrics written to {metrics_file}: {metrics}')


if __name__ == '__main__':
    main()
