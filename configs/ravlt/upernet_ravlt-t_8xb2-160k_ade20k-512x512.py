# UperNet with RAVLT-T (the authors' architecture, configs/ravlt) on ADE20K, 160k iterations,
# initialised from RAVLT-T's converted ImageNet weights (their repository has no T UperNet).
_base_ = '../mala/upernet_mala-t_8xb2-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        layout='RR,RR,SSSSSS,SS',
        mixers=None,
        init_cfg=dict(checkpoint='checkpoints/ravlt-t_in1k.pth')))
