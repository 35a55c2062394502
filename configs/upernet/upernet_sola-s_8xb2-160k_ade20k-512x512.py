_base_ = './upernet_sola-t_8xb2-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(arch='small', drop_path_rate=0.15),
    decode_head=dict(in_channels=[64, 128, 320, 512]),
    auxiliary_head=dict(in_channels=320))
