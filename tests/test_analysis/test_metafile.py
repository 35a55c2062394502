"""tools/analysis_tools/metafile.py: filling, results, tables, and the validity of the shipped
metafiles and README tables."""
import glob
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import yaml

from mmsola.analysis.flops import model_complexity
from mmsola.apis import init_model

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    'metafile_tool', osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'metafile.py'))
metafile_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(metafile_tool)
(NOT_MEASURED, NOT_TRAINED, TABLE_END, TABLE_START, add_results, fill_metafile, load_metafile,
 metafile_table, replace_marked_table, write_readme_table) = (
     metafile_tool.NOT_MEASURED, metafile_tool.NOT_TRAINED, metafile_tool.TABLE_END,
     metafile_tool.TABLE_START, metafile_tool.add_results, metafile_tool.fill_metafile,
     metafile_tool.load_metafile, metafile_tool.metafile_table, metafile_tool.replace_marked_table,
     metafile_tool.write_readme_table)
SHIPPED_METAFILES = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', '*', 'metafile.yml')))

TINY_CLS_CONFIG = """
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmsola.SoLAVision', layout='L,L,LS,S',
                  arch=dict(embed_dims=(16, 16, 32, 32), depths=(1, 1, 2, 1),
                            num_heads=(1, 1, 2, 2))),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=32))
"""
DET_CONFIG = "default_scope = 'mmdet'\nmodel = dict(type='MaskRCNN')\n"
SEG_CONFIG = "default_scope = 'mmseg'\nmodel = dict(type='EncoderDecoder')\n"


def write_yaml(path, content):
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return str(path)


def test_fill_writes_the_counts_of_model_complexity(tmp_path):
    config = tmp_path / 'tiny_cls.py'
    config.write_text(TINY_CLS_CONFIG)
    metafile = write_yaml(tmp_path / 'metafile.yml', {'Models': [
        {'Name': 'tiny', 'Config': str(config), 'Metadata': {'Training Data': 'shapes'}}]})

    fill_metafile(metafile)

    expected = model_complexity(init_model(str(config)), 'mmpretrain', 224, 224)
    metadata = load_metafile(metafile)['Models'][0]['Metadata']
    assert metadata == {'Training Data': 'shapes', 'FLOPs': expected['flops'],
                        'Parameters': expected['params']}
    assert type(metadata['FLOPs']) is int and metadata['FLOPs'] > 0


def test_fill_names_a_missing_config(tmp_path):
    metafile = write_yaml(tmp_path / 'metafile.yml', {'Models': [
        {'Name': 'ghost', 'Config': str(tmp_path / 'ghost.py')}]})
    with pytest.raises(FileNotFoundError, match='ghost.*ghost.py'):
        fill_metafile(metafile)


def make_test_work_dir(root, metrics, config_text=DET_CONFIG, name='det_run'):
    """A work dir as tools/test.py leaves it: the dumped config and test_metrics.json."""
    work_dir = root / name
    work_dir.mkdir()
    (work_dir / f'{name}.py').write_text(config_text)
    (work_dir / 'test_metrics.json').write_text(json.dumps(dict(
        config=f'configs/demo/{name}.py', checkpoint='iter_8.pth', metrics=metrics)))
    return str(work_dir)


def test_results_add_a_model_from_the_work_dir(tmp_path):
    work_dir = make_test_work_dir(tmp_path, {'coco/bbox_mAP': 0.427, 'coco/segm_mAP': 0.383,
                                             'coco/bbox_mAP_50': 0.61})
    metafile = str(tmp_path / 'out' / 'metafile.yml')
    os.makedirs(osp.dirname(metafile))

    add_results(metafile, work_dir, 'det_run', dataset='shapes')

    model, = load_metafile(metafile)['Models']
    assert model['Name'] == 'det_run'
    assert model['Config'] == osp.join(work_dir, 'det_run.py')
    assert model['Results'] == [
        {'Task': 'Object Detection', 'Dataset': 'shapes', 'Metrics': {'box AP': 42.7}},
        {'Task': 'Instance Segmentation', 'Dataset': 'shapes', 'Metrics': {'mask AP': 38.3}}]


def test_results_replace_older_ones_and_keep_other_models(tmp_path):
    work_dir = make_test_work_dir(tmp_path, {'accuracy/top1': 71.25, 'accuracy/top5': 99.0},
                                  config_text=TINY_CLS_CONFIG, name='cls_run')
    metafile = write_yaml(tmp_path / 'metafile.yml', {'Models': [
        {'Name': 'other', 'Config': 'x.py'},
        {'Name': 'cls', 'Config': osp.join(work_dir, 'cls_run.py'),
         'Metadata': {'Training Data': 'ImageNet-1k', 'FLOPs': 5, 'Parameters': 7},
         'Results': [{'Task': 'Image Classification', 'Dataset': 'ImageNet-1k',
                      'Metrics': {'Top 1 Accuracy': 1.0}}]}]})

    add_results(metafile, work_dir, 'cls')

    other, cls = load_metafile(metafile)['Models']
    assert other == {'Name': 'other', 'Config': 'x.py'}
    assert cls['Metadata'] == {'Training Data': 'ImageNet-1k', 'FLOPs': 5, 'Parameters': 7}
    assert cls['Results'] == [{'Task': 'Image Classification', 'Dataset': 'ImageNet-1k',
                               'Metrics': {'Top 1 Accuracy': 71.25, 'Top 5 Accuracy': 99.0}}]


def test_results_errors(tmp_path):
    metafile = str(tmp_path / 'metafile.yml')
    with pytest.raises(FileNotFoundError, match='test_metrics.json'):
        add_results(metafile, str(tmp_path), 'x', dataset='shapes')
    work_dir = make_test_work_dir(tmp_path, {'coco/bbox_mAP': 0.5})
    with pytest.raises(ValueError, match='--dataset'):
        add_results(metafile, work_dir, 'det_run')
    other_dir = make_test_work_dir(tmp_path, {'loss': 1.0}, name='other')
    with pytest.raises(ValueError, match="coco/bbox_mAP.*'loss'"):
        add_results(metafile, other_dir, 'other', dataset='shapes')
    assert not osp.exists(metafile)


def test_table_with_trained_and_untrained_models(tmp_path):
    (tmp_path / 'configs').mkdir()
    for name, text in (('a.py', DET_CONFIG), ('b.py', DET_CONFIG)):
        (tmp_path / 'configs' / name).write_text(text)
    metafile = write_yaml(tmp_path / 'configs' / 'metafile.yml', {'Models': [
        {'Name': 'a', 'Config': str(tmp_path / 'configs' / 'a.py'),
         'Metadata': {'FLOPs': 242_400_000_000, 'Parameters': 33_580_000},
         'Results': [{'Task': 'Object Detection', 'Dataset': 'COCO',
                      'Metrics': {'box AP': 47.5}},
                     {'Task': 'Instance Segmentation', 'Dataset': 'COCO',
                      'Metrics': {'mask AP': 42.3}}]},
        {'Name': 'b', 'Config': str(tmp_path / 'configs' / 'b.py'),
         'Metadata': {'FLOPs': 1_000_000_000, 'Parameters': 2_000_000}}]})

    table = metafile_table([metafile], link_dir=str(tmp_path / 'configs'))

    assert table.splitlines() == [
        '| model | params | FLOPs @ 1280 x 800 | box AP | mask AP | weights | config |',
        '|---|---|---|---|---|---|---|',
        '| `a` | 33.58 M | 242.40 G | 47.5 | 42.3 | trained here | [config](a.py) |',
        f'| `b` | 2.00 M | 1.00 G | {NOT_TRAINED} | {NOT_TRAINED} | none yet | [config](b.py) |']


def test_table_marks_converted_weights_and_their_untested_metrics(tmp_path):
    (tmp_path / 'det.py').write_text(DET_CONFIG)
    metafile = write_yaml(tmp_path / 'metafile.yml', {'Models': [
        {'Name': 'c', 'Config': str(tmp_path / 'det.py'),
         'Converted From': {'Weights': 'https://example.org/c.pth',
                            'Code': 'https://github.com/someone/repo'}}]})
    row = metafile_table([metafile], link_dir=str(tmp_path)).splitlines()[2]
    assert row == (f'| `c` | - | - | {NOT_MEASURED} | {NOT_MEASURED} | converted from '
                   '[repo](https://example.org/c.pth) | [config](det.py) |')


def test_table_has_no_column_that_only_an_untrained_model_would_fill(tmp_path):
    # a run evaluated with box AP only (e.g. a detector without masks) gets no empty mask column
    (tmp_path / 'det.py').write_text(DET_CONFIG)
    metafile = write_yaml(tmp_path / 'metafile.yml', {'Models': [
        {'Name': 'det', 'Config': str(tmp_path / 'det.py'),
         'Results': [{'Task': 'Object Detection', 'Dataset': 'shapes',
                      'Metrics': {'box AP': 61.0}}]}]})
    rows = metafile_table([metafile], link_dir=str(tmp_path)).splitlines()
    assert rows[0] == '| model | params | FLOPs @ 1280 x 800 | box AP | weights | config |'
    assert rows[2] == '| `det` | - | - | 61.0 | trained here | [config](det.py) |'


def test_table_of_mixed_input_shapes_names_the_shape_per_row(tmp_path):
    (tmp_path / 'det.py').write_text(DET_CONFIG)
    (tmp_path / 'seg.py').write_text(SEG_CONFIG)
    metafile = write_yaml(tmp_path / 'metafile.yml', {'Models': [
        {'Name': name, 'Config': str(tmp_path / f'{name}.py'),
         'Metadata': {'FLOPs': 3_000_000_000, 'Parameters': 1_000_000}}
        for name in ('det', 'seg')]})
    rows = metafile_table([metafile], link_dir=str(tmp_path)).splitlines()
    assert rows[0] == '| model | params | FLOPs | box AP | mask AP | mIoU | weights | config |'
    assert rows[2] == (f'| `det` | 1.00 M | 3.00 G @ 1280 x 800 | {NOT_TRAINED} | '
                       f'{NOT_TRAINED} | - | none yet | [config](det.py) |')
    assert rows[3] == (f'| `seg` | 1.00 M | 3.00 G @ 2048 x 512 | - | - | {NOT_TRAINED} | '
                       'none yet | [config](seg.py) |')


def test_readme_markers(tmp_path):
    text = f'# title\n\n{TABLE_START}\nold table\n{TABLE_END}\n\nafter\n'
    assert replace_marked_table(text, '| new |\n', 'R.md') == \
        f'# title\n\n{TABLE_START}\n| new |\n{TABLE_END}\n\nafter\n'
    for broken in ('no markers\n', f'{TABLE_END}\n{TABLE_START}\n',
                   f'{TABLE_START}\n{TABLE_END}\n{TABLE_START}\n{TABLE_END}\n'):
        with pytest.raises(ValueError, match='R.md must hold the lines <!-- metafile-table'):
            replace_marked_table(broken, '| new |\n', 'R.md')

    (tmp_path / 'det.py').write_text(DET_CONFIG)
    metafile = write_yaml(tmp_path / 'metafile.yml', {'Models': [
        {'Name': 'det', 'Config': str(tmp_path / 'det.py')}]})
    readme = tmp_path / 'README.md'
    readme.write_text(text)
    table = write_readme_table(str(readme), [metafile])
    assert f'{TABLE_START}\n{table}{TABLE_END}' in readme.read_text()
    assert f'| `det` | - | - | {NOT_TRAINED} | {NOT_TRAINED} | none yet | [config](det.py) |' \
        in table
    readme.write_text('no markers\n')
    with pytest.raises(ValueError, match=str(readme)):
        write_readme_table(str(readme), [metafile])
    assert readme.read_text() == 'no markers\n'


def test_cli_prints_the_table(tmp_path):
    (tmp_path / 'det.py').write_text(DET_CONFIG)
    metafile = write_yaml(tmp_path / 'metafile.yml', {'Models': [
        {'Name': 'det', 'Config': 'det.py', 'Metadata': {'FLOPs': 10**9, 'Parameters': 10**6}}]})
    out = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'metafile.py'), 'table',
         metafile], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[2] == \
        f'| `det` | 1.00 M | 1.00 G | {NOT_TRAINED} | {NOT_TRAINED} | none yet | [config](det.py) |'


def test_model_index_imports_every_metafile():
    with open(osp.join(REPO_ROOT, 'model-index.yml'), encoding='utf-8') as f:
        imported = yaml.safe_load(f)['Import']
    assert SHIPPED_METAFILES
    assert sorted(osp.join(REPO_ROOT, path) for path in imported) == SHIPPED_METAFILES


@pytest.mark.parametrize('metafile', SHIPPED_METAFILES,
                         ids=lambda path: osp.basename(osp.dirname(path)))
def test_shipped_metafile_is_valid(metafile):
    from modelindex.load_model_index import load

    index = load(metafile)
    index.build_models_with_collections()
    collections = {collection.name for collection in index.collections}
    assert index.models
    for model in index.models:
        assert model.in_collection in collections, model.name
        assert model.config and osp.isfile(osp.join(REPO_ROOT, model.config)), model.name
        assert isinstance(model.metadata.flops, int) and model.metadata.flops > 0, model.name
        assert isinstance(model.metadata.parameters, int) and model.metadata.parameters > 0
        for result in model.results or []:
            assert isinstance(result.dataset, str) and result.metrics, model.name


def test_readme_tables_are_generated_from_the_metafiles(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    for metafile in SHIPPED_METAFILES:
        folder = osp.relpath(osp.dirname(metafile), REPO_ROOT)
        with open(osp.join(folder, 'README.md'), encoding='utf-8') as f:
            readme = f.read()
        table = metafile_table([osp.join(folder, 'metafile.yml')], link_dir=folder)
        assert f'{TABLE_START}\n{table}{TABLE_END}' in readme, (
            f'{folder}/README.md: run python tools/analysis_tools/metafile.py table '
            f'{folder}/metafile.yml --readme {folder}/README.md')
