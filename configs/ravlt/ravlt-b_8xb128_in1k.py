# RAVLT-B: RAVLT-T's architecture and recipe at the base size (see ravlt-t_8xb128_in1k.py).
_base_ = './ravlt-t_8xb128_in1k.py'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.4,
        layout='RRRR,RRRRRR,SSSSSSSSSSSS,SSSSSS',
        layer_scale_init=(1.0, 1.0, 1e-6, 1e-6)))
