# MALA-L: MALA-T's architecture and recipe at the large size (see mala-t_8xb128_in1k.py).
_base_ = './mala-t_8xb128_in1k.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.55,
        layout='LLLL,LLLLLLL,SSSSSSSSSSSSSSSSSSS,SSSSSSSS',
        layer_scale_init=1e-6),
    neck=dict(in_channels=640, out_channels=2560),
    head=dict(in_channels=2560))
