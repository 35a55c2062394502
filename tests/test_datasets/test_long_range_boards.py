"""Boards drawn on the fly: labels right by construction, distance moves only the framed cells."""
import numpy as np
import pytest
from mmengine.registry import DATASETS, init_default_scope

from mmsola.datasets.long_range import (PALETTE, BoardSpec, LongRangeBoards, board_fingerprint,
                                        draw_board, framed_placements)

SPEC = BoardSpec(seed=3, image_size=96, grid=6, distance=1, num_distractors=5)


def cell_pixels(image, cell, size):
    row, col = cell
    return image[row * size:(row + 1) * size, col * size:(col + 1) * size]


def framed_colour(patch: np.ndarray, frame_width: int) -> int:
    """The palette index of the shape in a framed cell, read from its pixels alone: the pixels
    of the grey interior that are far from grey are the shape's."""
    interior = patch[frame_width:-frame_width, frame_width:-frame_width].astype(float)
    greyness = np.abs(interior - interior.mean(-1, keepdims=True)).max(-1)
    shape = interior[greyness > 40]
    assert len(shape) >= 10, 'no shape in the framed cell'
    return int(np.linalg.norm(shape.mean(0) - np.asarray(PALETTE), axis=-1).argmin())


@pytest.mark.parametrize('distance', [1, 3, 5])
def test_labels_are_right_by_construction(distance):
    spec = BoardSpec(seed=3, distance=distance, num_distractors=5)
    labels = []
    for index in range(24):
        board = draw_board(spec, 0, index)
        (r0, c0), (r1, c1) = board['framed']
        assert abs(r0 - r1) == abs(c0 - c1) == distance
        assert tuple(sorted(board['framed'])) in framed_placements(6, distance)
        seen = [framed_colour(cell_pixels(board['image'], cell, spec.cell_size), spec.frame_width)
                for cell in board['framed']]
        assert seen == list(board['colours'])
        assert board['label'] == int(seen[0] == seen[1])
        for cell in board['framed']:  # the white frame marks the deciding cells
            assert cell_pixels(board['image'], cell, spec.cell_size)[0].mean() > 230
        labels.append(board['label'])
    assert sum(labels) == 12


def test_distance_changes_only_where_the_framed_cells_are():
    size = SPEC.cell_size
    for index in range(12):
        near, far = (draw_board(BoardSpec(seed=3, distance=d, num_distractors=5), 1, index)
                     for d in (1, 5))
        assert near['colours'] == far['colours'] and near['classes'] == far['classes']
        for near_cell, far_cell in zip(near['framed'], far['framed']):
            assert np.array_equal(cell_pixels(near['image'], near_cell, size),
                                  cell_pixels(far['image'], far_cell, size))
        moved = set(near['framed']) | set(far['framed'])
        moved |= ({cell for cell, _ in near['distractors']}
                  ^ {cell for cell, _ in far['distractors']})
        untouched = np.ones(near['image'].shape[:2], bool)
        for row, col in moved:
            untouched[row * size:(row + 1) * size, col * size:(col + 1) * size] = False
        assert untouched.mean() > 0.75
        assert np.array_equal(near['image'][untouched], far['image'][untouched])


def test_every_distance_has_the_same_two_placements_as_central_as_it_allows():
    assert framed_placements(4, 1) == [((1, 1), (2, 2)), ((1, 2), (2, 1))]
    assert framed_placements(4, 2) == [((0, 0), (2, 2)), ((0, 3), (2, 1))]
    assert framed_placements(4, 3) == [((0, 0), (3, 3)), ((0, 3), (3, 0))]  # opposite corners
    for grid in (4, 5, 6):
        for distance in range(1, grid):
            main, mirror = framed_placements(grid, distance)
            assert mirror == tuple((row, grid - 1 - col) for row, col in main)
            for (r0, c0), (r1, c1) in (main, mirror):
                assert abs(r1 - r0) == abs(c1 - c0) == distance
                assert 0 <= min(r0, r1, c0, c1) and max(r0, r1, c0, c1) < grid
    assert BoardSpec(distance=5).pixel_distance == pytest.approx(5 * 16 * 2**0.5)
    placed = {tuple(sorted(draw_board(BoardSpec(seed=1, grid=4, image_size=64, distance=2), 0,
                                      index)['framed'])) for index in range(40)}
    assert placed == {((0, 0), (2, 2)), ((0, 3), (2, 1))}


def test_board_fingerprint_tells_other_boards_apart():
    fingerprint = board_fingerprint(64, 4, 0)
    assert fingerprint == board_fingerprint(64, 4, 0) and len(fingerprint) == 12
    assert fingerprint != board_fingerprint(64, 4, 1)  # a distractor more
    assert fingerprint != board_fingerprint(96, 4, 0)


def test_dataset_builds_from_an_mmpretrain_config_and_never_repeats_a_board():
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(dict(type='mmsola.LongRangeBoards', distance=2, split='val',
                                  num_samples=6, seed=3, pipeline=[dict(type='PackInputs')]))
    assert isinstance(dataset, LongRangeBoards) and len(dataset) == 6
    assert dataset.metainfo['classes'] == ('different', 'same')
    samples = [dataset[i] for i in range(6)]
    for index, sample in enumerate(samples):
        board = draw_board(BoardSpec(seed=3, distance=2), 1, index)
        assert sample['data_samples'].gt_label.item() == board['label'] == index % 2
        # BGR in the tensor, like an image read by LoadImageFromFile
        assert np.array_equal(sample['inputs'].permute(1, 2, 0).numpy(), board['image'][..., ::-1])
    assert len({sample['inputs'].numpy().tobytes() for sample in samples}) == 6
    assert list(dataset.get_gt_labels()) == [0, 1, 0, 1, 0, 1]


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match='BoardSpec.distance'):
        BoardSpec(grid=6, distance=6)
    with pytest.raises(ValueError, match='BoardSpec.image_size'):
        BoardSpec(image_size=100, grid=6)
    with pytest.raises(ValueError, match='BoardSpec.num_distractors'):
        BoardSpec(grid=4, image_size=64, distance=1, num_distractors=15)
    with pytest.raises(ValueError, match='BoardSpec.num_distractors must be a non-negative'):
        BoardSpec(num_distractors=-1)
    with pytest.raises(ValueError, match='LongRangeBoards.split'):
        LongRangeBoards(distance=1, split='test')
    with pytest.raises(ValueError, match='LongRangeBoards.num_samples'):
        LongRangeBoards(distance=1, num_samples=0)


def test_study_boards_hold_colour_only_in_the_two_framed_cells():
    """The study's setting (64 x 64, 4 x 4 cells, no distractors): everything outside the two
    framed cells is grey, so the pair of colours is all there is to see."""
    spec = BoardSpec(seed=3, image_size=64, grid=4, distance=3, num_distractors=0)
    for index in range(8):
        board = draw_board(spec, 0, index)
        assert board['distractors'] == [] and board['label'] == index % 2
        image = board['image'].astype(float)
        coloured = np.abs(image - image.mean(-1, keepdims=True)).max(-1) > 40
        size = spec.cell_size
        for row, col in board['framed']:
            coloured[row * size:(row + 1) * size, col * size:(col + 1) * size] = False
        assert not coloured.any()
