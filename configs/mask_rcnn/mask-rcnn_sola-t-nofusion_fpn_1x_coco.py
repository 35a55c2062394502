# Ablation: without the injection of stage-1/2 features into stage 3.
_base_ = './mask-rcnn_sola-t_fpn_1x_coco.py'

model = dict(backbone=dict(early_fusion=False))
