# Mask R-CNN + FPN with RAVLT-T (the authors' architecture, configs/ravlt) on COCO, 1x schedule,
# initialised from RAVLT-T's converted ImageNet weights. lr 0.0001 as in their maskrcnn_t_1x.py.
_base_ = '../mask_rcnn/mask-rcnn_sola-t_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        layout='RR,RR,SSSSSS,SS',
        early_fusion=False,
        layer_scale_init=1.0,
        stem_width_ratios=(0.5, 0.5, 0.5, 1.0),
        rotary_cfg=dict(freq_exponents='linspace'),
        # ImageNet weights: the backbone part of the converted classifier (configs/ravlt/README.md)
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='checkpoints/ravlt-t_in1k.pth',
            prefix='backbone.')))

optim_wrapper = dict(optimizer=dict(lr=0.0001))
