# UperNet with MALA-T (the authors' architecture, configs/mala) on ADE20K, 160k iterations,
# initialised from MALA-T's converted ImageNet weights.
_base_ = '../upernet/upernet_sola-t_8xb2-160k_ade20k-512x512.py'

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
