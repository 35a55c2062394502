"""The embedded shapes dataset: deterministic, validated, and careful with existing folders."""
import hashlib
import json
import os

import pytest

from mmsola.datasets import ShapesSpec, generate_shapes, validate_shapes

SMALL = ShapesSpec(seed=1, image_size=48, num_train=4, num_val=2, cls_per_class_train=2,
                   cls_per_class_val=1, min_visible_pixels=10)


def digest(root):
    """Hash of every file under root (paths and bytes), the marker aside."""
    sha = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name.startswith('.mmsola'):
                continue
            path = os.path.join(folder, name)
            sha.update(os.path.relpath(path, root).encode())
            with open(path, 'rb') as f:
                sha.update(f.read())
    return sha.hexdigest()


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    generate_shapes(str(tmp_path / 'a'), SMALL)
    generate_shapes(str(tmp_path / 'b'), SMALL)
    generate_shapes(str(tmp_path / 'c'), ShapesSpec(**{**SMALL.__dict__, 'seed': 2}))
    assert digest(tmp_path / 'a') == digest(tmp_path / 'b')
    assert digest(tmp_path / 'a') != digest(tmp_path / 'c')


def test_more_images_keep_the_earlier_ones(tmp_path):
    generate_shapes(str(tmp_path / 'few'), SMALL)
    generate_shapes(str(tmp_path / 'more'), ShapesSpec(**{**SMALL.__dict__, 'num_train': 6}))
    for name in ('000000.png', '000003.png'):
        with open(tmp_path / 'few' / 'images' / 'train' / name, 'rb') as a, \
                open(tmp_path / 'more' / 'images' / 'train' / name, 'rb') as b:
            assert a.read() == b.read()


def test_annotations_are_consistent(tmp_path):
    root = tmp_path / 'shapes'
    summary = generate_shapes(str(root), SMALL)
    assert summary['train']['images'] == 4 and summary['train']['instances'] >= 4
    coco = json.loads((root / 'annotations' / 'instances_train.json').read_text())
    assert [c['name'] for c in coco['categories']] == ['circle', 'square', 'triangle']
    assert sorted(os.listdir(root / 'cls' / 'val')) == ['circle', 'square', 'triangle']


def test_classification_file_names_are_unique_across_classes(tmp_path):
    # mmpretrain's VisualizationHook names a picture after its image's file name: shared names
    # would leave one class's pictures only.
    root = tmp_path / 'shapes'
    generate_shapes(str(root), SMALL)
    names = [name for _, _, files in os.walk(root / 'cls' / 'train') for name in files]
    assert len(names) == 3 * SMALL.cls_per_class_train
    assert len(set(names)) == len(names)


def test_validation_names_the_broken_annotation(tmp_path):
    root = tmp_path / 'shapes'
    generate_shapes(str(root), SMALL)
    ann_file = root / 'annotations' / 'instances_val.json'
    coco = json.loads(ann_file.read_text())
    coco['annotations'][0]['bbox'][2] += 3
    ann_file.write_text(json.dumps(coco))
    with pytest.raises(ValueError, match=r'instances_val\.json: annotation 1 .* do not match'):
        validate_shapes(str(root))


def test_refuses_a_folder_it_did_not_create(tmp_path):
    root = tmp_path / 'mine'
    root.mkdir()
    (root / 'notes.txt').write_text('precious')
    with pytest.raises(FileExistsError, match='not created by this generator'):
        generate_shapes(str(root), SMALL)
    assert (root / 'notes.txt').read_text() == 'precious'
    assert os.listdir(root) == ['notes.txt']
    assert os.listdir(tmp_path) == ['mine']  # no staging folder left beside it


def test_reuses_or_replaces_its_own_folder(tmp_path):
    root = str(tmp_path / 'shapes')
    assert generate_shapes(root, SMALL)['reused'] is False
    assert generate_shapes(root, SMALL)['reused'] is True
    bigger = ShapesSpec(**{**SMALL.__dict__, 'num_val': 3})
    assert generate_shapes(root, bigger)['val']['images'] == 3
    assert len(os.listdir(os.path.join(root, 'images', 'val'))) == 3


def test_spec_errors_name_the_field():
    with pytest.raises(ValueError, match='ShapesSpec.image_size must be at least 32'):
        ShapesSpec(image_size=16)
    with pytest.raises(ValueError, match='ShapesSpec.num_val must be a positive integer'):
        ShapesSpec(num_val=0)


def test_generated_files_follow_the_umask(tmp_path):
    """Teammates on a shared machine can read the data (mkdtemp alone makes it owner-only)."""
    old = os.umask(0o022)
    try:
        root = tmp_path / 'shared'
        generate_shapes(str(root), SMALL)
    finally:
        os.umask(old)
    assert os.stat(root).st_mode & 0o777 == 0o755
    assert os.stat(root / 'annotations' / 'instances_val.json').st_mode & 0o777 == 0o644


def test_generator_cli_writes_and_then_reuses_the_dataset(tmp_path, repo_root):
    import subprocess
    import sys
    out = str(tmp_path / 'shapes')
    command = [sys.executable, os.path.join(repo_root, 'tools', 'data', 'generate_shapes.py'),
               '--out', out, '--num-train', '2', '--num-val', '2']
    first = subprocess.run(command, check=True, capture_output=True, text=True)
    assert 'written' in first.stdout
    assert os.path.isfile(os.path.join(out, 'annotations', 'instances_val.json'))
    assert 'already present' in subprocess.run(command, check=True, capture_output=True,
                                               text=True).stdout


def test_generator_cli_refuses_an_unknown_option(tmp_path, repo_root):
    import subprocess
    import sys
    out = subprocess.run(
        [sys.executable, os.path.join(repo_root, 'tools', 'data', 'generate_shapes.py'),
         '--out', str(tmp_path / 'x'), '--grid', '3'],
        capture_output=True, text=True)
    assert out.returncode == 2
    assert '--grid' in out.stderr
    assert not (tmp_path / 'x').exists()
