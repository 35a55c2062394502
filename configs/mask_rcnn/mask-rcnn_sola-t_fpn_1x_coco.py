# Mask R-CNN + FPN with SoLA-Vision-T on COCO, 1x schedule (12 epochs, lr steps at 8 and 11).
# Recipe: AdamW lr 1e-4, weight decay 0.05 (none on norms), batch 16 (8 GPUs x 2 images).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmsola.SoLAVision',
        arch='tiny',
        layout='sola',
        early_fusion=True,
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        # BN of the stem and downsampling convs, synchronised across GPUs (plain BN on 1 GPU).
        conv_norm_cfg=dict(type='SyncBN', requires_grad=True),
        # ImageNet weights, from a classification checkpoint (tools/model_converters/
        # cls_to_backbone.py, or prefix='backbone.' on the classifier's checkpoint directly):
        # init_cfg=dict(type='Pretrained', checkpoint='sola-t_in1k.pth', prefix='backbone.'),
    ),
    neck=dict(in_channels=[64, 128, 256, 512]))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0),
    clip_grad=None)
