"""Turn a classification checkpoint into a backbone checkpoint for detection/segmentation.

    python tools/model_converters/cls_to_backbone.py CLS_CKPT OUT_CKPT

Keeps the ``backbone.`` weights of an mmpretrain ImageClassifier checkpoint, strips the prefix
and drops the rest (neck, head, optimizer, message hub). With mmengine's EMAHook the checkpoint's
``state_dict`` already holds the EMA weights, which are the ones converted. Use the result as
``init_cfg=dict(type='Pretrained', checkpoint=OUT_CKPT)`` of ``mmsola.SoLAVision``.
"""
import argparse
import os
import os.path as osp
from collections import OrderedDict

import torch
from mmengine.runner import CheckpointLoader

import mmsola  # noqa: F401  (safe loading of mmengine checkpoints)


def convert(state_dict: dict, prefix: str = 'backbone.') -> 'OrderedDict[str, torch.Tensor]':
    """Keep the keys under ``prefix``, without it."""
    converted = OrderedDict(
        (key[len(prefix):], value) for key, value in state_dict.items() if key.startswith(prefix))
    if not converted:
        sample = ', '.join(list(state_dict)[:5])
        raise ValueError(f'no key starts with {prefix!r} (keys start with: {sample}); is this a '
                         'classifier checkpoint?')
    return converted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='classification checkpoint (.pth)')
    parser.add_argument('dst', help='where to write the backbone checkpoint')
    parser.add_argument('--prefix', default='backbone.', help='prefix of the backbone keys')
    args = parser.parse_args()

    checkpoint = CheckpointLoader.load_checkpoint(args.src, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    converted = convert(state_dict, args.prefix)
    meta = dict(source=osp.abspath(args.src), converted_by='mmsola cls_to_backbone')
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save(dict(state_dict=converted, meta=meta), tmp)
    os.replace(tmp, args.dst)  # never leave a half-written file under the final name
    print(f'wrote {len(converted)} backbone tensors to {args.dst}')


if __name__ == '__main__':
    main()
