_base_ = './mask-rcnn_sola-t_fpn_1x_coco.py'

model = dict(
    backbone=dict(arch='small', drop_path_rate=0.15),
    neck=dict(in_channels=[64, 128, 320, 512]))
