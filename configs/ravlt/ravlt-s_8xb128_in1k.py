# RAVLT-S: RAVLT-T's architecture and recipe at the small size (see ravlt-t_8xb128_in1k.py).
_base_ = './ravlt-t_8xb128_in1k.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.15,
        layout='RRR,RRRRR,SSSSSSSSS,SSS'))
