# MALA-B: MALA-T's architecture and recipe at the base size (see mala-t_8xb128_in1k.py).
_base_ = './mala-t_8xb128_in1k.py'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.4,
        layout='LLLL,LLLLLL,SSSSSSSSSSSS,SSSSSS',
        layer_scale_init=(1.0, 1.0, 1e-6, 1e-6)))
