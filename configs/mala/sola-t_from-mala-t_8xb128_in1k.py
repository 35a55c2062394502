# SoLA-Vision-T (the layer-wise 'sola' layout) initialised from MALA-T's converted ImageNet weights.
# Every layer of both models has the same shell (q/k/v/gate projection, LePE, output projection,
# FFN, norms), so the weights map layer to layer; the four stage-3 layers and the first stage-4
# layer that MALA-T trained as softmax attention become linear attention here, and the early-fusion
# module starts at zero. This is an initialisation, not an equivalent model: it has to be
# fine-tuned. Architecture options follow MALA where the weights need them (stem widths, rotary
# frequencies, layer scale, no output norm, 2048-wide neck); the schedule (30 epochs, 1 warm-up
# epoch, lr 2.5e-4 at batch 1024) is our choice and has not been measured.
_base_ = '../sola/sola-t_8xb128_in1k.py'

model = dict(
    backbone=dict(
        layout='sola',
        early_fusion=True,
        layer_scale_init=1.0,
        stem_width_ratios=(0.5, 0.5, 0.5, 1.0),
        rotary_cfg=dict(freq_exponents='linspace'),
        norm_outputs=False),
    neck=dict(out_channels=2048),
    head=dict(in_channels=2048),
    # the whole classifier: backbone, projection neck and head (converted, see configs/mala)
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/mala-t_in1k.pth'))

optim_wrapper = dict(optimizer=dict(lr=2.5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=1),
]
train_cfg = dict(max_epochs=30)
