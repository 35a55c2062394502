# Mask R-CNN + FPN with RAVLT-T (the authors' architecture, configs/ravlt) on COCO, 1x schedule,
# initialised from RAVLT-T's converted ImageNet weights. lr 1e-4 as in their maskrcnn_t_1x.py.
_base_ = '../mala/mask-rcnn_mala-t_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        layout='RR,RR,SSSSSS,SS',
        mixers=None,
        # ImageNet weights: the backbone part of the converted classifier (configs/ravlt/README.md)
        init_cfg=dict(checkpoint='checkpoints/ravlt-t_in1k.pth')))

optim_wrapper = dict(optimizer=dict(lr=1e-4))
