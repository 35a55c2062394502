# RAVLT-L: RAVLT-T's architecture and recipe at the large size (see ravlt-t_8xb128_in1k.py).
_base_ = './ravlt-t_8xb128_in1k.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.55,
        layout='RRRR,RRRRRRR,SSSSSSSSSSSSSSSSSSS,SSSSSSSS',
        layer_scale_init=1e-6),
    neck=dict(in_channels=640))
