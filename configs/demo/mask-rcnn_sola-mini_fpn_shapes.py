# Demo: the Mask R-CNN recipe of configs/mask_rcnn on the embedded shapes dataset, with a small
# SoLA-Vision, 128 x 128 images and a short iteration-based schedule for 2 CPU cores.
# Data: python tools/data/generate_shapes.py (writes data/shapes).
_base_ = '../mask_rcnn/mask-rcnn_sola-t_fpn_1x_coco.py'

data_root = 'data/shapes/'
metainfo = dict(
    classes=('circle', 'square', 'triangle'),
    palette=[(220, 20, 60), (0, 128, 255), (255, 190, 0)])
image_size = 128
fpn_channels = 64

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
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
    neck=dict(in_channels=[32, 64, 128, 192], out_channels=fpn_channels),
    rpn_head=dict(
        in_channels=fpn_channels,
        feat_channels=fpn_channels,
        anchor_generator=dict(scales=[4])),  # objects are 20-64 px
    roi_head=dict(
        bbox_roi_extractor=dict(
            out_channels=fpn_channels, roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(in_channels=fpn_channels, fc_out_channels=256, num_classes=3),
        mask_roi_extractor=dict(
            out_channels=fpn_channels, roi_layer=dict(sampling_ratio=2)),
        mask_head=dict(in_channels=fpn_channels, conv_out_channels=fpn_channels, num_classes=3)),
    # A 128 x 128 image holds at most a few shapes: fewer proposals and sampled RoIs keep
    # mmcv's CPU RoIAlign (most of the step time) affordable.
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    batch_sampler=None,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_iters = 800
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.8)], gamma=0.1),
]
# fused=True: the same AdamW in one kernel per parameter group (the recipe gives every parameter
# its own group); on the demo UperNet its step took 9 ms instead of 22 (2 threads), of a 0.3-0.5 s training step.
optim_wrapper = dict(optimizer=dict(lr=1e-3, fused=True))
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=200, max_keep_ckpts=2, save_last=True))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False, base_batch_size=4)

# Seeded, so that the demo reproduces its numbers on the same machine.
randomness = dict(seed=0)
