"""The long-range benchmark data: labels right by construction, tasks differ only in placement."""
import json

import numpy as np
import pytest
from PIL import Image

from mmsola.datasets import LONG_RANGE_TASKS, LongRangeSpec, draw_scene, generate_long_range
from mmsola.datasets.long_range import FRAME_WIDTH, PALETTE, neighbouring_pairs

SPEC = LongRangeSpec(seed=5, image_size=160, grid=5, num_train=12, num_val=4, num_distractors=5)


def read_framed_shape(patch: np.ndarray) -> tuple:
    """Tell the palette colour and class of the shape in a framed cell from its pixels alone.

    The class is rotation invariant: the shape's area over the disc through its farthest pixel
    is 1 for a circle, 2/pi for a square and 3*sqrt(3)/(4*pi) for an equilateral triangle.
    """
    interior = patch[FRAME_WIDTH + 1:-FRAME_WIDTH - 1, FRAME_WIDTH + 1:-FRAME_WIDTH - 1]
    interior = interior.astype(float)
    border = np.concatenate([interior[0], interior[-1], interior[:, 0], interior[:, -1]])
    background = np.median(border, axis=0)
    mask = np.linalg.norm(interior - background, axis=-1) > 40
    rows, cols = np.nonzero(mask)
    centre_row, centre_col = rows.mean(), cols.mean()
    radius = np.sqrt((rows - centre_row)**2 + (cols - centre_col)**2).max() + 0.5
    fill = mask.sum() / (np.pi * radius**2)
    shape = 'circle' if fill > 0.8 else 'square' if fill > 0.52 else 'triangle'
    colour = np.linalg.norm(interior[mask].mean(0) - np.asarray(PALETTE), axis=-1).argmin()
    return int(colour), shape


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('long_range')
    generate_long_range(str(root), SPEC)
    return root


def read(root, task, split, scene):
    return np.asarray(Image.open(root / task / split / scene['label'] / scene['file_name']))


def cell_pixels(image, cell, size):
    row, col = cell
    return image[row * size:(row + 1) * size, col * size:(col + 1) * size]


@pytest.mark.parametrize('split', ['train', 'val'])
def test_labels_are_right_by_construction(dataset, split):
    index = json.loads((dataset / f'scenes_{split}.json').read_text())
    scenes, size = index['scenes'], index['cell_size']
    assert len(scenes) == (SPEC.num_train if split == 'train' else SPEC.num_val)
    assert sorted(s['label'] for s in scenes).count('same') == len(scenes) // 2
    for scene in scenes:
        for task in LONG_RANGE_TASKS:
            image = read(dataset, task, split, scene)
            seen = [read_framed_shape(cell_pixels(image, cell, size))
                    for cell in scene['framed'][task]]
            assert seen == list(zip(scene['colours'], scene['classes'])), (task, scene)
            assert scene['label'] == ('same' if seen[0][0] == seen[1][0] else 'different')
            for cell in scene['framed'][task]:  # the frame marks the deciding cells
                assert cell_pixels(image, cell, size)[0].mean() > 230


def test_tasks_differ_only_in_where_the_deciding_cells_are(dataset):
    index = json.loads((dataset / 'scenes_train.json').read_text())
    size = index['cell_size']
    for scene in index['scenes']:
        far = read(dataset, 'long_range', 'train', scene)
        near = read(dataset, 'control', 'train', scene)
        cells = scene['framed']['long_range'] + scene['framed']['control']
        outside = np.ones(far.shape[:2], bool)
        for row, col in cells:
            outside[row * size:(row + 1) * size, col * size:(col + 1) * size] = False
        assert np.array_equal(far[outside], near[outside])
        for far_cell, near_cell in zip(scene['framed']['long_range'], scene['framed']['control']):
            assert np.array_equal(cell_pixels(far, far_cell, size),
                                  cell_pixels(near, near_cell, size))
        assert not np.array_equal(far, near)
        distractor_cells = {tuple(d['cell']) for d in scene['distractors']}
        assert len(distractor_cells) == SPEC.num_distractors
        assert not distractor_cells & {tuple(c) for c in cells}


def test_long_range_cells_are_opposite_corners_and_control_cells_neighbours():
    last = SPEC.grid - 1
    main_diagonal = []
    for index in range(16):
        framed = draw_scene(SPEC, 0, index)['framed']
        (r0, c0), (r1, c1) = framed['long_range']
        assert {r0, r1} == {0, last} and {c0, c1} == {0, last}
        main_diagonal.append(r0 == c0)
        (r0, c0), (r1, c1) = framed['control']
        assert abs(r0 - r1) + abs(c0 - c1) == 1
    assert len(set(main_diagonal)) == 2  # both diagonals occur
    assert all(len(set(pair) & {(0, 0), (0, last), (last, 0), (last, last)}) == 0
               for pair in neighbouring_pairs(SPEC.grid))


def test_same_spec_same_images_and_reuse(tmp_path, dataset):
    again = generate_long_range(str(tmp_path / 'again'), SPEC)
    assert not again['reused']
    for task in LONG_RANGE_TASKS:
        name = 'control/val/same/000001.png' if task == 'control' else \
            'long_range/val/different/000000.png'
        assert (tmp_path / 'again' / name).read_bytes() == (dataset / name).read_bytes()
    assert generate_long_range(str(tmp_path / 'again'), SPEC)['reused']


def test_bad_spec_and_foreign_folder_are_refused(tmp_path):
    with pytest.raises(ValueError, match='image_size'):
        LongRangeSpec(image_size=150, grid=4)
    with pytest.raises(ValueError, match='num_train'):
        LongRangeSpec(num_train=0)
    with pytest.raises(ValueError, match='grid'):
        LongRangeSpec(grid=3)
    with pytest.raises(ValueError, match='num_distractors'):
        LongRangeSpec(grid=4, image_size=128, num_distractors=13)
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='not empty'):
        generate_long_range(str(tmp_path / 'mine'), SPEC)
    assert (tmp_path / 'mine' / 'notes.txt').read_text() == 'keep me'
