# Ablation: the 'stage' layout instead of the layer-wise hybrid.
_base_ = './mask-rcnn_sola-t_fpn_1x_coco.py'

model = dict(backbone=dict(layout='stage'))
