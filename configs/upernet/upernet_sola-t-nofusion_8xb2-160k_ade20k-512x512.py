# Ablation: without the injection of stage-1/2 features into stage 3.
_base_ = './upernet_sola-t_8xb2-160k_ade20k-512x512.py'

model = dict(backbone=dict(early_fusion=False))
