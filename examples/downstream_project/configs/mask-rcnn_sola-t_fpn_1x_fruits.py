# A config of another project: SoLA-Vision-T Mask R-CNN from mmsola, on that project's own
# COCO-format data. Only the dataset changes; model, schedule and runtime come from mmsola.
#   python -m pip install mmsola   (or pip install -e <mmsola checkout>)
#   python <mmdet>/.mim/tools/train.py configs/mask-rcnn_sola-t_fpn_1x_fruits.py (mmdet's own tool)
#   python <mmsola>/tools/train.py configs/mask-rcnn_sola-t_fpn_1x_fruits.py     (or mmsola's)
_base_ = 'mmsola::mask_rcnn/mask-rcnn_sola-t_fpn_1x_coco.py'

data_root = 'data/fruits/'
metainfo = dict(classes=('apple', 'banana', 'cherry'))

model = dict(roi_head=dict(bbox_head=dict(num_classes=3), mask_head=dict(num_classes=3)))

train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/train.json',
        data_prefix=dict(img='train/')))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/val.json',
        data_prefix=dict(img='val/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator
