"""Checkpoints in the MALA / RAVLT training scripts' own format, for the tests."""
import argparse
import os.path as osp
import re

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs')


def family_layout_state(family, arch='tiny'):
    """A random state dict with their key names and shapes for a published size.

    Built from mmsola's own model of that size by renaming (the inverse of the converter's
    table, without the q/k permutation, which random weights do not need), so the shapes are
    those of their T/S/B/L.
    """
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(CONFIG_DIR, family, f'{family}-{arch[0]}_8xb128_in1k.py')).model
    ours = MODELS.build(cfg).state_dict()
    renames = [
        (r'backbone\.stem\.(\d)\.conv\.', lambda m: f'patch_embed.proj.{3 * int(m[1])}.'),
        (r'backbone\.stem\.(\d)\.bn\.', lambda m: f'patch_embed.proj.{3 * int(m[1]) + 1}.'),
        (r'backbone\.stages\.(\d)\.downsample\.conv\.',
         lambda m: f'layers.{int(m[1]) - 1}.downsample.reduction.'),
        (r'backbone\.stages\.(\d)\.downsample\.bn\.',
         lambda m: f'layers.{int(m[1]) - 1}.downsample.norm.'),
        (r'backbone\.stages\.(\d)\.blocks\.(\d+)\.', lambda m: f'layers.{m[1]}.blocks.{m[2]}.'),
        (r'neck\.projection\.conv\.', lambda m: 'proj.'),
        (r'neck\.projection\.bn\.', lambda m: 'norm.'),
        (r'head\.fc\.', lambda m: 'head.'),
    ]
    inner = {'cpe': 'pos', 'norm1': 'norm1.norm', 'norm2': 'norm2.norm', 'mixer.qkvg': 'attn.qkvo',
             'mixer.lepe': 'attn.lepe', 'mixer.proj': 'attn.proj', 'gamma1': 'gamma_1',
             'gamma2': 'gamma_2'}
    theirs = {}
    gen = torch.Generator().manual_seed(0)
    for key, value in ours.items():
        for pattern, replace in renames:
            match = re.match(pattern, key)
            if match:
                key = replace(match) + key[match.end():]
                break
        for old, new in inner.items():
            key = re.sub(rf'(blocks\.\d+\.){re.escape(old)}(\.|$)', rf'\g<1>{new}\g<2>', key)
        value = torch.randn(value.shape, generator=gen) * 0.02 if value.is_floating_point() \
            else value
        if key.endswith('running_var'):
            value = value.abs() + 1
        if value.dim() == 2 and re.search(r'(qkvo|attn\.proj|fc1|fc2)\.weight$|^head\.weight$',
                                          key):
            value = value[:, :, None, None]  # their 1 x 1 convolutions
        if re.search(r'gamma_\d$', key):
            value = value.view(1, -1, 1, 1)
        theirs[key] = value
        conv = re.match(r'(patch_embed\.proj\.\d+|layers\.\d\.downsample\.reduction|proj)'
                        r'\.weight$', key)
        if conv:
            theirs[f'{conv[1]}.bias'] = torch.randn(value.shape[0], generator=gen) * 0.02
    return theirs


def save_family_checkpoint(path, family, arch='tiny', extra=None):
    """A checkpoint as their DeiT-style main.py writes it (weights, EMA, optimizer, args)."""
    state = family_layout_state(family, arch)
    name = {'mala': 'MALA_', 'ravlt': 'RAVLT_'}[family] + arch[0].upper()
    checkpoint = dict(model=state, model_ema={k: v + 1 for k, v in state.items()},
                      optimizer=dict(state={}, param_groups=[dict(lr=1e-3, params=[0])]),
                      lr_scheduler=dict(last_epoch=3), epoch=3, scaler=dict(scale=65536.0),
                      args=argparse.Namespace(model=name, lr=5e-4, batch_size=128))
    checkpoint.update(extra or {})
    torch.save(checkpoint, path)
    return state
