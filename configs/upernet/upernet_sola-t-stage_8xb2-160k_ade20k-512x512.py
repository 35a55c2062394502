# Ablation: the 'stage' layout instead of the layer-wise hybrid.
_base_ = './upernet_sola-t_8xb2-160k_ade20k-512x512.py'

model = dict(backbone=dict(layout='stage'))
