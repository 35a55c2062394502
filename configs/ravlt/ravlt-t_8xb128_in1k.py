# RAVLT-T on ImageNet-1K with its authors' architecture: MALA-T's (configs/mala), with
# rank-augmented linear attention (mmsola's R mixer, RAVLT's own normaliser) in stages 1-2 and a
# 1024-wide projection neck. Weights: convert their checkpoint with
#   python tools/model_converters/mala_ravlt_to_mmsola.py ravlt RAVLT_T.pth \
#       checkpoints/ravlt-t_in1k.pth
# and test it with tools/test.py on this config. Recipe: MALA-T's (their main.py is the same).
_base_ = '../mala/mala-t_8xb128_in1k.py'

model = dict(
    backbone=dict(layout='RR,RR,SSSSSS,SS', mixers=None),
    neck=dict(out_channels=1024),
    head=dict(in_channels=1024))
