"""tools/analysis/results_table.py: hand-written work dirs of each task, and a real 2-iteration
training of the demo classifier."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from mmsola.analysis.results_table import (NOT_TRAINED, TABLE_END_MARKER, TABLE_START_MARKER,
                                           InvalidWorkDirError, MarkerError,
                                           ResultsTableWarning,
                                           add_to_model_index, collect_runs, dataset_name,
                                           format_markdown, load_complexity_jsons, main,
                                           replace_marked_section, summarize_work_dir,
                                           update_readme, write_metafile)
from mmsola.datasets import ShapesSpec, generate_shapes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAMP = '20260101_120000'

DET_CONFIG = """
default_scope = 'mmdet'
model = dict(type='MaskRCNN',
             backbone=dict(type='mmsola.SoLAVision', arch='tiny', layout={layout!r}),
             roi_head=dict(type='StandardRoIHead', mask_head=dict(type='FCNMaskHead')))
train_dataloader = dict(dataset=dict(type='CocoDataset', data_root='data/coco/'))
val_dataloader = dict(dataset=dict(type='CocoDataset', data_root='data/coco/'))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', metric=['bbox', 'segm'])
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
"""
SEG_CONFIG = """
default_scope = 'mmseg'
model = dict(type='EncoderDecoder', backbone=dict(type='mmsola.SoLAVision', arch='small'),
             decode_head=dict(type='UPerHead'))
train_dataloader = dict(
    dataset=dict(type='ADE20KDataset', data_root='data/ade/ADEChallengeData2016'))
val_dataloader = train_dataloader
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000, val_interval=16000)
"""
CLS_CONFIG = """
default_scope = 'mmpretrain'
model = dict(type='ImageClassifier',
             backbone=dict(type='mmsola.SoLAVision', arch='tiny', early_fusion={fusion}))
train_dataloader = dict(dataset=dict(type='ImageNet', data_root='data/imagenet'))
val_dataloader = train_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
"""


def make_work_dir(root, name, config_text, scalars=(), test_metrics=None, checkpoint=None):
    """A work dir as mmengine's Runner leaves it: dumped config, timestamp folder, log."""
    work_dir = root / name
    vis_data = work_dir / STAMP / 'vis_data'
    vis_data.mkdir(parents=True)
    (work_dir / f'{name}.py').write_text(config_text)
    (vis_data / 'config.py').write_text(config_text)
    (work_dir / STAMP / f'{STAMP}.log').write_text('log\n')
    if scalars:
        (vis_data / 'scalars.json').write_text(
            '\n'.join(json.dumps(line) for line in scalars) + '\n{"truncated": ')
    if checkpoint:
        (work_dir / checkpoint).write_bytes(b'')
        (work_dir / 'last_checkpoint').write_text(str(work_dir / checkpoint))
    if test_metrics is not None:
        (work_dir / 'test_metrics.json').write_text(json.dumps(dict(
            config=f'configs/x/{name}.py', checkpoint=str(work_dir / checkpoint),
            metrics=test_metrics)))
    return str(work_dir)


def train_line(epoch, iteration):
    return dict(lr=1e-4, loss=1.0, time=0.5, data_time=0.1, epoch=epoch, iter=iteration,
                step=iteration)


@pytest.fixture
def synthetic(tmp_path):
    """Work dirs of each task with metrics, and two without; the det one has get_flops figures."""
    root = tmp_path / 'work_dirs'
    dirs = dict(
        det=make_work_dir(
            root, 'mask-rcnn_sola-t_fpn_1x_coco', DET_CONFIG.format(layout='sola'),
            scalars=[train_line(12, 1200), dict({'coco/bbox_mAP': 0.471, 'coco/segm_mAP': 0.4825,
                                                 'coco/bbox_mAP_l': -1.0, 'step': 12})],
            checkpoint='epoch_12.pth'),
        det_crashed=make_work_dir(
            root, 'mask-rcnn_sola-t-stage_fpn_1x_coco', DET_CONFIG.format(layout='stage'),
            scalars=[train_line(1, 100), train_line(3, 250)]),
        seg=make_work_dir(
            root, 'upernet_sola-s_8xb2-160k_ade20k-512x512', SEG_CONFIG,
            scalars=[dict(lr=1e-5, loss=0.5, iter=160000, step=160000),
                     dict(mIoU=30.0, aAcc=80.0, step=160000)],
            test_metrics={'mIoU': 45.678, 'aAcc': 81.0}, checkpoint='iter_160000.pth'),
        cls=make_work_dir(
            root, 'sola-t_8xb128_in1k', CLS_CONFIG.format(fusion=True),
            scalars=[train_line(300, 375000),
                     {'accuracy/top1': 81.234, 'accuracy/top5': 95.6, 'step': 300}],
            checkpoint='epoch_300.pth'),
        cls_untrained=make_work_dir(root, 'sola-t-nofusion_8xb128_in1k',
                                    CLS_CONFIG.format(fusion=False)),
    )
    flops_json = tmp_path / 'flops.json'
    flops_json.write_text(json.dumps(dict(
        params=33_580_000, flops=242_400_000_000, config='configs/mask_rcnn/'
        'mask-rcnn_sola-t_fpn_1x_coco.py', shape=[800, 1280], part='model')))
    runs = collect_runs(list(dirs.values()), measure=False,
                        complexity_records=load_complexity_jsons([str(flops_json)]))
    return dirs, runs


def table_row(markdown, config_name):
    rows = [line for line in markdown.splitlines() if f'[{config_name}.py]' in line]
    assert len(rows) == 1, markdown
    return [cell.strip() for cell in rows[0].strip('|').split(' | ')]


def test_markdown_has_numbers_and_untrained_runs(synthetic):
    dirs, runs = synthetic
    markdown = format_markdown(runs, link_dir=os.path.dirname(dirs['det']))
    assert markdown.count('| Backbone | layout | Params | FLOPs |') == 3

    det = table_row(markdown, 'mask-rcnn_sola-t_fpn_1x_coco')
    assert det[:7] == ['SoLA-Vision-T', 'LL, LL, LLSLLS, LS', '33.58 M', '242.4 G', '47.1', '48.2',
                       '12 / 12 epochs']
    assert '[model](mask-rcnn_sola-t_fpn_1x_coco/epoch_12.pth)' in det[-1]
    crashed = table_row(markdown, 'mask-rcnn_sola-t-stage_fpn_1x_coco')
    assert crashed[1] == 'LL, LL, SSSSSS, SS (stage)'
    assert crashed[2:7] == ['not measured', 'not measured', NOT_TRAINED, NOT_TRAINED,
                            '2 / 12 epochs']
    seg = table_row(markdown, 'upernet_sola-s_8xb2-160k_ade20k-512x512')
    assert seg[0] == 'SoLA-Vision-S' and seg[4] == '45.68'  # test_metrics.json beats scalars
    assert seg[5] == '160000 / 160000 iters'
    cls = table_row(markdown, 'sola-t_8xb128_in1k')
    assert cls[4:7] == ['81.23', '95.60', '300 / 300 epochs']
    untrained = table_row(markdown, 'sola-t-nofusion_8xb128_in1k')
    assert untrained[1] == 'LL, LL, LLSLLS, LS; no early fusion'
    assert untrained[4:7] == [NOT_TRAINED, NOT_TRAINED, '- / 300 epochs']


def test_metafile_has_results_only_for_trained_runs(synthetic, tmp_path):
    dirs, runs = synthetic
    path = tmp_path / 'metafile.yml'
    write_metafile(str(path), runs, root=str(tmp_path))
    metafile = yaml.safe_load(path.read_text())
    models = {model['Name']: model for model in metafile['Models']}
    assert {c['Name'] for c in metafile['Collections']} == {
        'SoLA-Vision Mask R-CNN', 'SoLA-Vision UperNet', 'SoLA-Vision ImageClassifier'}

    det = models['mask-rcnn_sola-t_fpn_1x_coco']
    assert det['In Collection'] == 'SoLA-Vision Mask R-CNN'
    assert det['Metadata'] == {'Training Data': 'COCO', 'FLOPs': 242_400_000_000,
                               'Parameters': 33_580_000, 'Epochs': 12}
    assert det['Results'] == [
        {'Task': 'Object Detection', 'Dataset': 'COCO', 'Metrics': {'box AP': 47.1}},
        {'Task': 'Instance Segmentation', 'Dataset': 'COCO', 'Metrics': {'mask AP': 48.2}}]
    assert det['Weights'] == 'work_dirs/mask-rcnn_sola-t_fpn_1x_coco/epoch_12.pth'
    assert models['upernet_sola-s_8xb2-160k_ade20k-512x512']['Results'] == [
        {'Task': 'Semantic Segmentation', 'Dataset': 'ADE20K', 'Metrics': {'mIoU': 45.68}}]
    assert models['sola-t_8xb128_in1k']['Results'][0]['Metrics'] == {
        'Top 1 Accuracy': 81.23, 'Top 5 Accuracy': 95.6}
    for untrained in ('mask-rcnn_sola-t-stage_fpn_1x_coco', 'sola-t-nofusion_8xb128_in1k'):
        assert 'Results' not in models[untrained] and 'Weights' not in models[untrained]
        assert 'FLOPs' not in models[untrained]['Metadata']  # never measured, never invented


def test_existing_metafile_is_updated_in_place(synthetic, tmp_path, repo_root):
    _, runs = synthetic
    path = tmp_path / 'metafile.yml'
    shutil.copy(os.path.join(repo_root, 'configs', 'sola', 'metafile.yml'), path)
    before = yaml.safe_load(path.read_text())
    cls_runs = [run for run in runs if run.task == 'cls']
    write_metafile(str(path), cls_runs, root=repo_root)
    after = yaml.safe_load(path.read_text())
    assert after['Collections'] == before['Collections']
    models = {model['Name']: model for model in after['Models']}
    assert set(models) == {m['Name'] for m in before['Models']} | {'sola-t-nofusion_8xb128_in1k'}
    assert models['sola-t_8xb128_in1k']['Config'] == 'configs/sola/sola-t_8xb128_in1k.py'
    assert models['sola-t_8xb128_in1k']['Results'][0]['Dataset'] == 'ImageNet-1k'
    assert models['sola-b_8xb128_in1k'] == next(
        m for m in before['Models'] if m['Name'] == 'sola-b_8xb128_in1k')

    index = tmp_path / 'model-index.yml'
    index.write_text('Import:\n  - configs/other/metafile.yml\n')
    assert add_to_model_index(str(index), str(path))
    assert not add_to_model_index(str(index), str(path))
    assert yaml.safe_load(index.read_text())['Import'] == ['configs/other/metafile.yml',
                                                           'metafile.yml']


def test_readme_update_replaces_only_between_markers(synthetic, tmp_path):
    _, runs = synthetic
    head = '# Results\n\nIntro | with a pipe.\n\n'
    tail = '\n\nPublished numbers of peers.\n'
    readme = tmp_path / 'README.md'
    readme.write_text(f'{head}{TABLE_START_MARKER}\n| old | table |\n{TABLE_END_MARKER}{tail}')
    assert update_readme(str(readme), format_markdown(runs[:1], str(tmp_path)))
    text = readme.read_text()
    assert text.startswith(head + TABLE_START_MARKER + '\n') and text.endswith(
        TABLE_END_MARKER + tail)
    assert '| old | table |' not in text and '| 47.1 | 48.2 |' in text
    assert not update_readme(str(readme), format_markdown(runs[:1], str(tmp_path)))

    plain = tmp_path / 'PLAIN.md'
    plain.write_text('# no markers\n')
    with pytest.raises(MarkerError, match='PLAIN.md'):
        update_readme(str(plain), 'table')
    with pytest.raises(MarkerError, match='before'):
        replace_marked_section(f'{TABLE_END_MARKER}\n{TABLE_START_MARKER}', 'x', 'R.md')


def test_invalid_work_dirs_are_named(tmp_path):
    missing = str(tmp_path / 'no_such_run')
    with pytest.raises(InvalidWorkDirError, match='no_such_run'):
        summarize_work_dir(missing, measure=False)
    empty = tmp_path / 'crashed_before_dump'
    empty.mkdir()
    with pytest.raises(InvalidWorkDirError, match='crashed_before_dump.*no dumped config'):
        summarize_work_dir(str(empty), measure=False)
    with pytest.warns(ResultsTableWarning) as caught:
        assert collect_runs([missing, str(empty)], skip_invalid=True, measure=False) == []
    messages = [str(w.message) for w in caught]
    assert 'no_such_run does not exist' in messages[0] and 'crashed_before_dump' in messages[1]


def test_dataset_names():
    assert dataset_name(dict(type='mmdet.CocoDataset', data_root='data/coco/')) == 'COCO'
    assert dataset_name(dict(type='RepeatDataset', times=3, dataset=dict(
        type='ADE20KDataset', data_root='data/ade/ADEChallengeData2016'))) == 'ADE20K'
    assert dataset_name(dict(type='CocoDataset', data_root='data/shapes/',
                             metainfo=dict(classes=('circle', )))) == 'shapes'
    assert dataset_name(dict(type='CustomDataset', data_root='data/shapes/cls/')) == 'shapes'
    assert dataset_name(dict(type='CustomDataset', data_root='/mnt/flowers')) == 'flowers'


def test_cli_writes_all_outputs(synthetic, tmp_path, capsys):
    dirs, _ = synthetic
    readme = tmp_path / 'README.md'
    readme.write_text(f'x\n{TABLE_START_MARKER}\n{TABLE_END_MARKER}\ny\n')
    with pytest.warns(ResultsTableWarning, match='gone does not exist'):
        assert main([dirs['seg'], str(tmp_path / 'gone'), '--skip-invalid', '--no-complexity',
                     '--update-readme', str(readme), '--metafile', str(tmp_path / 'meta.yml'),
                     '--model-index', str(tmp_path / 'model-index.yml')]) == 0
    assert '| 45.68 |' in capsys.readouterr().out and '| 45.68 |' in readme.read_text()
    assert yaml.safe_load((tmp_path / 'model-index.yml').read_text()) == {
        'Import': ['meta.yml']}

    assert main([str(tmp_path / 'gone'), '--no-complexity']) == 2
    assert 'error: work dir' in capsys.readouterr().err


@pytest.fixture(scope='module')
def trained_classifier(tmp_path_factory):
    """Two real training iterations and a validation of the demo classifier, in miniature."""
    workspace = tmp_path_factory.mktemp('results_table_workspace')
    generate_shapes(str(workspace / 'data' / 'shapes'),
                    ShapesSpec(seed=3, image_size=64, num_train=6, num_val=3, max_objects=3,
                               cls_per_class_train=3, cls_per_class_val=2,
                               min_visible_pixels=20))
    overrides = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                 'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=2',
                 'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
                 'train_dataloader.persistent_workers=False',
                 'val_dataloader.persistent_workers=False',
                 'train_dataloader.dataset.pipeline.1.scale=32',
                 'val_dataloader.dataset.pipeline.1.scale=32']
    command = [sys.executable, os.path.join(REPO_ROOT, 'tools', 'train.py'),
               os.path.join(REPO_ROOT, 'configs', 'demo', 'sola-mini_shapes.py'),
               '--work-dir', 'work_dirs/cls', '--cfg-options', *overrides]
    out = subprocess.run(command, cwd=workspace, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return workspace


def test_real_training_run_end_to_end(trained_classifier):
    workspace = trained_classifier
    scalars = next((workspace / 'work_dirs' / 'cls').glob('*/vis_data/scalars.json'))
    top1 = [json.loads(line) for line in scalars.read_text().splitlines()][-1]['accuracy/top1']
    command = [sys.executable, os.path.join(REPO_ROOT, 'tools', 'analysis', 'results_table.py'),
               'work_dirs/cls', '--flops-shape', '32', '32', '--markdown', 'results.md',
               '--metafile', 'metafile.yml']
    out = subprocess.run(command, cwd=workspace, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]

    row = table_row((workspace / 'results.md').read_text(), 'sola-mini_shapes')
    assert row[1] == 'L, L, LLS, S'
    assert re.fullmatch(r'\d+\.\d\d M', row[2]) and re.fullmatch(r'\d+\.\d\d [MG]', row[3])
    assert row[4] == f'{top1:.2f}' and row[5] == '2 / 2 iters'
    assert row[6].endswith('configs/demo/sola-mini_shapes.py)')
    assert '[model](work_dirs/cls/iter_2.pth)' in row[7] and '[log](work_dirs/cls/' in row[7]

    cache = json.loads((workspace / 'work_dirs' / 'cls' / 'results_table_complexity.json')
                       .read_text())
    model = yaml.safe_load((workspace / 'metafile.yml').read_text())['Models'][0]
    assert model['Metadata'] == {'Training Data': 'shapes', 'FLOPs': cache['flops']['32x32'],
                                 'Parameters': cache['params'], 'Iterations': 2}
    assert model['Results'] == [{'Task': 'Image Classification', 'Dataset': 'shapes',
                                 'Metrics': {'Top 1 Accuracy': round(top1, 2)}}]
    assert model['Weights'] == 'work_dirs/cls/iter_2.pth'
