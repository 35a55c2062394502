# RAVLT-T on ImageNet-1K with its authors' architecture, in mmsola's one backbone: the
# stage-level layout (stages 1-2 rank-augmented linear attention, 3-4 global softmax),
# their stem, rotary frequencies, normaliser and layer-scale values, no output norm and a
# 1024-wide projection neck. Weights: convert their checkpoint with
#   python tools/model_converters/mala_ravlt_to_mmsola.py ravlt RAVLT_T.pth \
#       checkpoints/ravlt-t_in1k.pth
# and test it with tools/test.py on this config. Recipe: the anchors' main.py (AdamW lr 5e-4 x
# batch / 512, 300 epochs, cosine after 5 warm-up epochs, EMA decay 0.99996 per step, no
# gradient clipping), with the rest of configs/sola's recipe.
_base_ = '../sola/sola-t_8xb128_in1k.py'

model = dict(
    backbone=dict(
        layout='RR,RR,SSSSSS,SS',
        early_fusion=False,
        layer_scale_init=1.0,
        stem_width_ratios=(0.5, 0.5, 0.5, 1.0),
        rotary_cfg=dict(freq_exponents='linspace'),
        norm_outputs=False),
    neck=dict(out_channels=1024),
    head=dict(in_channels=1024))

optim_wrapper = dict(clip_grad=None)
custom_hooks = [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
