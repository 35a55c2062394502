# UperNet with SoLA-Vision-T on ADE20K, 160k iterations of 512 x 512 crops, batch 16 (8 x 2).
# Recipe: AdamW lr 6e-5, weight decay 0.01 (none on norms), 1500 warm-up iterations, then poly.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmsola.SoLAVision',
        arch='tiny',
        layout='sola',
        early_fusion=True,
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        conv_norm_cfg=dict(type='SyncBN', requires_grad=True),
        # init_cfg=dict(type='Pretrained', checkpoint='sola-t_in1k.pth', prefix='backbone.'),
    ),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
