# UperNet with RAVLT-T (the authors' architecture, configs/ravlt) on ADE20K, 160k iterations,
# initialised from RAVLT-T's converted ImageNet weights.
_base_ = '../upernet/upernet_sola-t_8xb2-160k_ade20k-512x512.py'

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
