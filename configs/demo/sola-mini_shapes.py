# Demo pretraining: the classification recipe of configs/sola on the shapes' class folders, with
# a small SoLA-Vision and a short schedule for 2 CPU cores. Images are read at 128 x 128 and
# trained at 64 x 64: the shapes then have the pixel size they have in the 128 x 128 scenes of
# the detection and segmentation demos, and a step costs a third. Mixup/CutMix and random crops
# are left out: the first need far more steps than a demo has, the second cut off the corners
# that tell the classes apart. The head reads globally average-pooled stage-4 features: with
# the recipe's ProjectionPoolNeck (1 x 1 conv, BN, SiLU, then pooling) the classifier stayed
# near 80 % on two of three seeds (docs/main_job.md, 'What held the demo back').
# Data: python tools/data/generate_shapes.py (writes data/shapes).
_base_ = '../sola/sola-t_8xb128_in1k.py'

data_root = 'data/shapes/cls/'
image_size = 64

model = dict(
    backbone=dict(
        # small enough for 2 CPU cores; the 'sola' layout rule gives stage 3 'LLS', stage 4 'S'
        arch=dict(_delete_=True, embed_dims=(32, 64, 128, 192), depths=(1, 1, 3, 1),
                  num_heads=(1, 2, 4, 6)),
        drop_path_rate=0.0,
        # layer scale (1e-6, the recipe's) and PyTorch's default init of the linear layers: with
        # neither, the attention branches hold the demo models on a plateau for 1000+ steps
        # (docs/main_job.md, 'What held the demo back')
        init_cfg=dict(type='Kaiming', layer='Linear', a=5**0.5, mode='fan_in',
                      nonlinearity='leaky_relu', distribution='uniform')),
    neck=dict(_delete_=True, type='GlobalAveragePooling'),
    head=dict(num_classes=3, in_channels=192, topk=(1, )),
    train_cfg=dict(_delete_=True))
data_preprocessor = dict(num_classes=3)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=image_size, edge='short'),  # keeps a user image's aspect
    dict(type='PackInputs'),
]
dataset = dict(_delete_=True, type='CustomDataset', data_root=data_root)
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    dataset=dict(dataset, data_prefix='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=1,
    dataset=dict(dataset, data_prefix='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_iters = 2000
train_cfg = dict(_delete_=True, by_epoch=False, max_iters=max_iters, val_interval=max_iters)
# fused=True: the same AdamW in one kernel per parameter group (the recipe gives every parameter
# its own group); on the demo UperNet its step took 9 ms instead of 22 (2 threads), of a 0.3-0.5 s training step.
optim_wrapper = dict(optimizer=dict(lr=1e-3, fused=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=100, end=max_iters),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=1000, max_keep_ckpts=1, save_last=True))
log_processor = dict(by_epoch=False)
# EMA over a few hundred steps needs a faster momentum than the 300-epoch recipe's 1e-4.
custom_hooks = [dict(type='EMAHook', momentum=0.01, priority='ABOVE_NORMAL')]

# Seeded, so that the demo reproduces its numbers on the same machine.
randomness = dict(seed=0)
