"""Evaluate an exported classifier or segmentor with ONNX Runtime on its config's test set.

    python tools/deployment/onnx_test.py CONFIG FILE.onnx [--work-dir DIR] [--threads N]
        [--cfg-options ...]

Same dataloader, evaluator and post-processing as tools/test.py (see
mmsola/deployment/onnx_evaluation.py); the metrics are printed and written to
<work-dir>/onnx_test_metrics.json (work dir as tools/test.py chooses it).
"""
import argparse
import os.path as osp

from mmengine.config import DictAction
from mmengine.fileio import dump

from mmsola.deployment import evaluate_onnx
from mmsola.engine.cli import load_config


def parse_onnx_test_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='the config the model was exported from')
    parser.add_argument('onnx_file', help='ONNX file written by tools/deployment/pytorch2onnx.py')
    parser.add_argument('--work-dir', help='where onnx_test_metrics.json goes '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--threads', type=int, help='ONNX Runtime threads (default: torch\'s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. test_dataloader.batch_size=8')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_onnx_test_args(argv)
    if not osp.isfile(args.onnx_file):
        raise FileNotFoundError(f'ONNX file {args.onnx_file} does not exist')
    cfg = load_config(args.config, args.work_dir, args.cfg_options)
    metrics = evaluate_onnx(cfg, args.onnx_file, threads=args.threads)
    metrics_file = osp.join(cfg.work_dir, 'onnx_test_metrics.json')
    dump(dict(config=args.config, onnx_file=args.onnx_file, runtime='onnxruntime',
              metrics=metrics), metrics_file, indent=2, default=float)
    print(f'metrics written to {metrics_file}: {metrics}')


if __name__ == '__main__':
    main()
