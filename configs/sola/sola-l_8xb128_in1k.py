_base_ = './sola-t_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.55),
    neck=dict(in_channels=640))
