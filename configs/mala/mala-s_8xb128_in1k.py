# MALA-S: MALA-T's architecture and recipe at the small size (see mala-t_8xb128_in1k.py).
_base_ = './mala-t_8xb128_in1k.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.15,
        layout='LLL,LLLLL,SSSSSSSSS,SSS'))
