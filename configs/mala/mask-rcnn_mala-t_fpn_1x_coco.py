# Mask R-CNN + FPN with MALA-T (the authors' architecture, configs/mala) on COCO, 1x schedule,
# initialised from MALA-T's converted ImageNet weights. lr 0.0004 as in their maskrcnn_t_1x.py.
_base_ = '../mask_rcnn/mask-rcnn_sola-t_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        layout='LL,LL,SSSSSS,SS',
        mixers=dict(L=dict(type='mmsola.MagnitudeAwareLinearAttention', normaliser='unrotated')),
        early_fusion=False,
        layer_scale_init=1.0,
        stem_width_ratios=(0.5, 0.5, 0.5, 1.0),
        rotary_cfg=dict(freq_exponents='linspace'),
        # ImageNet weights: the backbone part of the converted classifier (configs/mala/README.md)
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/mala-t_in1k.pth',
            prefix='backbone.')))

optim_wrapper = dict(optimizer=dict(lr=0.0004))
