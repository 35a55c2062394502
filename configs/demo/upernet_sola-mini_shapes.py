# Demo: the UperNet recipe of configs/upernet on the embedded shapes dataset, with a small
# SoLA-Vision, 128 x 128 crops and a short schedule for 2 CPU cores.
# Data: python tools/data/generate_shapes.py (writes data/shapes).
_base_ = '../upernet/upernet_sola-t_8xb2-160k_ade20k-512x512.py'

data_root = 'data/shapes/'
metainfo = dict(
    classes=('background', 'circle', 'square', 'triangle'),
    palette=[(0, 0, 0), (220, 20, 60), (0, 128, 255), (255, 190, 0)])
crop_size = (128, 128)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        # small enough for 2 CPU cores; the 'sola' layout rule gives stage 3 'LLS', stage 4 'S'
        arch=dict(_delete_=True, embed_dims=(32, 64, 128, 192), depths=(1, 1, 3, 1),
                  num_heads=(1, 2, 4, 6)),
        drop_path_rate=0.0,
        # layer scale (1e-6, the recipe's) and PyTorch's default init of the linear layers: with
        # neither, the attention branches hold the demo models on a plateau for 1000+ steps
        # (docs/main_job.md, 'What held the demo back')
        init_cfg=dict(type='Kaiming', layer='Linear', a=5**0.5,
                      mode='fan_in', nonlinearity='leaky_relu', distribution='uniform'),
        conv_norm_cfg=dict(type='BN')),
    decode_head=dict(in_channels=[32, 64, 128, 192], channels=64, num_classes=4,
                     norm_cfg=dict(type='BN', requires_grad=True)),
    auxiliary_head=dict(in_channels=128, channels=32, num_classes=4,
                        norm_cfg=dict(type='BN', requires_grad=True)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='RandomResize', scale=crop_size, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='PackSegInputs'),
]
dataset = dict(
    _delete_=True,
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.png',
    seg_map_suffix='.png',
    reduce_zero_label=False)
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        dataset,
        data_prefix=dict(img_path='images/train', seg_map_path='seg_maps/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    dataset=dict(
        dataset,
        data_prefix=dict(img_path='images/val', seg_map_path='seg_maps/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 2000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
# fused=True: the same AdamW in one kernel per parameter group (the recipe gives every parameter
# its own group); on the demo UperNet its step took 9 ms instead of 22 (2 threads), of a 0.3-0.5 s training step.
optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=0.01, fused=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=100, end=max_iters, by_epoch=False),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=1000, max_keep_ckpts=1, save_last=True))

# Seeded, so that the demo reproduces its numbers on the same machine.
randomness = dict(seed=0)
