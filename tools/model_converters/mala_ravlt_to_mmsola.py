"""Convert a MALA or RAVLT checkpoint (qhfan/MALA, qhfan/RALA) into mmsola's key layout.

    python tools/model_converters/mala_ravlt_to_mmsola.py mala MALA_T.pth mala-t_in1k.pth
    python tools/model_converters/mala_ravlt_to_mmsola.py ravlt RAVLT_T.pth ravlt-t_in1k.pth --ema
    python tools/model_converters/mala_ravlt_to_mmsola.py ravlt maskrcnn_t_1x_12_epoch.pth out.pth

A classification checkpoint (their DeiT-style ``main.py``: ``model``, ``model_ema``, optimizer,
``args``, ...) becomes an mmpretrain ImageClassifier checkpoint for ``configs/mala`` or
``configs/ravlt``; its ``backbone.`` weights are what the Mask R-CNN / UperNet configs load with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``. A detection or
segmentation checkpoint (mmdet 2.x / mmseg 0.x) keeps its necks and heads. The file is read
without unpickling arbitrary objects; ``--trusted`` lifts that, for files you trust.
"""
import argparse
import os
import os.path as osp
import sys

import torch

from mmsola.models.converters import (FAMILIES, FamilyCheckpointError,
                                      convert_family_checkpoint, load_family_checkpoint)
from mmsola.utils.checkpoint import CorruptCheckpointError, UnsafeCheckpointError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('family', choices=sorted(FAMILIES), help='which code wrote the file')
    parser.add_argument('src', help="their checkpoint (.pth)")
    parser.add_argument('dst', help='where to write the mmsola checkpoint')
    parser.add_argument('--ema', action='store_true',
                        help="convert the EMA weights ('model_ema') instead of 'model'")
    parser.add_argument('--num-heads', type=int, nargs=4, metavar='H',
                        help='heads per stage, only for a size other than their T/S/B/L')
    parser.add_argument('--trusted', action='store_true',
                        help='unpickle every object of the file (only for a source you trust)')
    args = parser.parse_args()

    try:
        checkpoint = load_family_checkpoint(args.src, trusted=args.trusted)
        converted, summary = convert_family_checkpoint(checkpoint, args.family, args.num_heads,
                                                       use_ema=args.ema)
    except (FileNotFoundError, FamilyCheckpointError, UnsafeCheckpointError,
            CorruptCheckpointError) as error:
        print(f'error: {args.src}: {error}', file=sys.stderr)
        return 1
    meta = dict(source=osp.abspath(args.src), family=args.family,
                converted_by='mmsola mala_ravlt_to_mmsola', **summary)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save(dict(state_dict=converted, meta=meta), tmp)
    os.replace(tmp, args.dst)  # never leave a half-written file under the final name
    title = FAMILIES[args.family]['title']
    print(f"{title} {summary['arch']} ({summary['task']}, from {summary['entry']}): "
          f"embed_dims {summary['embed_dims']}, depths {summary['depths']}, num_heads "
          f"{summary['num_heads']}; wrote {len(converted)} tensors to {args.dst}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
