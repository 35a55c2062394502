"""A generated benchmark of long-range dependency, with a local control task.

Every image is a ``grid x grid`` board of cells on a textured background. Two cells are *framed*
(a white frame around a plain grey interior) and hold one shape each; a few unframed cells hold
distractor shapes. Every shape is painted in one of three palette colours (with a little jitter).
The label says whether the two framed shapes have the same palette colour (``same``) or not
(``different``); shape classes, sizes and rotations are drawn independently, so only the pair of
colours decides it, and neither colour alone (nor counting colours, since the distractors use the
palette too) tells the label.

Two tasks are written from the very same scenes:

* ``long_range``: the framed cells are opposite corners of the board (either diagonal), so the
  deciding regions are as far apart as the image allows;
* ``control``: the framed cells are two neighbouring cells, so the deciding regions are local.

For one index, the two images differ only in where the framed cells are: the framed patches
(frame, interior, shape, noise) are the same pixels, the distractors and background outside the
four cells involved are the same pixels, and the cells a task does not use show background.

Layout under ``root``: ``{long_range,control}/{train,val}/{different,same}/NNNNNN.png`` (class
folders for mmpretrain's ``CustomDataset``) and ``scenes_{train,val}.json`` describing every
scene (label, framed cells per task, classes, distractors).
"""
import dataclasses
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset
from PIL import Image

from mmsola.registry import DATASETS

from .shapes import SHAPE_CLASSES, SPLITS, _shape_mask, _texture, check_integer_fields
from .staging import write_generated_folder

LONG_RANGE_TASKS = ('long_range', 'control')
LABELS = ('different', 'same')
PALETTE = ((220, 50, 50), (40, 170, 60), (50, 90, 220))
COLOUR_JITTER = 15
#: Bumped whenever the generated files change, so that old folders are rebuilt.
LONG_RANGE_FORMAT_VERSION = 3
FRAME_WIDTH = 3
Cell = Tuple[int, int]  # (row, column) on the board


@dataclasses.dataclass(frozen=True)
class LongRangeSpec:
    """What to generate.

    Args:
        seed: seed of every random stream.
        image_size: side of the square images, in pixels; a multiple of ``grid``.
        grid: cells per side of the board (at least 4, so that corners and a neighbouring
            pair never share a cell).
        num_train: images per task in the train split (half ``same``, half ``different``).
        num_val: images per task in the val split.
        num_distractors: unframed shapes per image.
    """
    seed: int = 0
    image_size: int = 160
    grid: int = 5
    num_train: int = 1000
    num_val: int = 200
    num_distractors: int = 4

    def __post_init__(self) -> None:
        check_integer_fields(self)
        if self.grid < 4:
            raise ValueError(f'LongRangeSpec.grid must be at least 4, got {self.grid}')
        if self.image_size % self.grid or self.image_size // self.grid < 24:
            raise ValueError(f'LongRangeSpec.image_size ({self.image_size}) must be a multiple of '
                             f'grid ({self.grid}) with cells of at least 24 pixels')
        if self.num_distractors > self.grid * self.grid - 4:
            raise ValueError(f'LongRangeSpec.num_distractors ({self.num_distractors}) leaves no '
                             f'room on a {self.grid} x {self.grid} board (at most '
                             f'{self.grid * self.grid - 4})')


def _palette_colour(rng: np.random.Generator, index: int) -> np.ndarray:
    return np.asarray(PALETTE[index], float) + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3)


def _framed_patch(rng: np.random.Generator, cell: int, colour_index: int,
                  frame_width: int = FRAME_WIDTH) -> Tuple[int, np.ndarray]:
    """A shape of a random class and its (cell, cell, 3) uint8 patch: white frame, plain grey
    interior, the shape in palette colour ``colour_index`` (cut to the interior), pixel noise.

    Every palette colour is more than 100 (Euclidean, 0-255 RGB) from any interior grey.
    """
    label = int(rng.integers(len(SHAPE_CLASSES)))
    interior = np.full(3, rng.uniform(100, 160))
    colour = _palette_colour(rng, colour_index)
    patch = np.empty((cell, cell, 3))
    patch[:] = 255.0
    patch[frame_width:-frame_width, frame_width:-frame_width] = interior
    radius = rng.uniform(0.28, 0.38) * cell
    centre = tuple(cell / 2 + rng.uniform(-0.08, 0.08, 2) * cell)
    mask = _shape_mask(SHAPE_CLASSES[label], centre, radius, rng.uniform(0, 2 * np.pi), cell)
    inside = np.zeros_like(mask)
    inside[frame_width:-frame_width, frame_width:-frame_width] = True
    patch[mask & inside] = colour  # the frame stays whole
    return label, np.clip(patch + rng.normal(0, 4, patch.shape), 0, 255).astype(np.uint8)


def _distractor(rng: np.random.Generator, image: np.ndarray, cell: int, at: Cell) -> int:
    """Draw an unframed shape into cell ``at`` of ``image``; returns its palette index."""
    label = int(rng.integers(len(SHAPE_CLASSES)))
    radius = rng.uniform(0.2, 0.35) * cell
    centre = (at[1] * cell + cell / 2 + rng.uniform(-0.1, 0.1) * cell,
              at[0] * cell + cell / 2 + rng.uniform(-0.1, 0.1) * cell)
    mask = _shape_mask(SHAPE_CLASSES[label], centre, radius, rng.uniform(0, 2 * np.pi),
                       image.shape[0])
    colour_index = int(rng.integers(len(PALETTE)))
    image[mask] = _palette_colour(rng, colour_index)
    return colour_index


def neighbouring_pairs(grid: int) -> List[Tuple[Cell, Cell]]:
    """Horizontally or vertically neighbouring cell pairs that touch no corner of the board."""
    corners = {(0, 0), (0, grid - 1), (grid - 1, 0), (grid - 1, grid - 1)}
    pairs = []
    for row in range(grid):
        for col in range(grid):
            for other in ((row, col + 1), (row + 1, col)):
                if other[0] < grid and other[1] < grid and not {(row, col), other} & corners:
                    pairs.append(((row, col), other))
    return pairs


def draw_scene(spec: LongRangeSpec, split_id: int, index: int) -> Dict[str, object]:
    """Draw scene ``index`` of a split for both tasks.

    Returns:
        dict with ``images`` (task -> (S, S, 3) uint8), ``label`` (0 different, 1 same),
        ``colours`` (the two framed shapes' palette indices), ``classes`` (their shape class
        indices), ``framed`` (task -> the two cells) and ``distractors`` (list of (cell,
        palette index)).
    """
    rng = np.random.default_rng([spec.seed, split_id, index])
    grid, cell = spec.grid, spec.image_size // spec.grid
    same = index % 2 == 1
    first = int(rng.integers(len(PALETTE)))
    second = first if same else int((first + rng.integers(1, len(PALETTE))) % len(PALETTE))
    if rng.integers(2):
        long_cells = ((0, 0), (grid - 1, grid - 1))
    else:
        long_cells = ((0, grid - 1), (grid - 1, 0))
    pairs = neighbouring_pairs(grid)
    control_cells = pairs[int(rng.integers(len(pairs)))]
    if rng.integers(2):  # which framed shape comes first is independent of the task
        control_cells = control_cells[::-1]
    (first_class, first_patch), (second_class, second_patch) = (
        _framed_patch(rng, cell, first), _framed_patch(rng, cell, second))
    patches = (first_patch, second_patch)

    background = _texture(rng, spec.image_size)
    free = [(r, c) for r in range(grid) for c in range(grid)
            if (r, c) not in long_cells + control_cells]
    chosen = rng.choice(len(free), size=spec.num_distractors, replace=False)
    distractors = [(free[i], _distractor(rng, background, cell, free[i])) for i in sorted(chosen)]
    background = np.clip(background + rng.normal(0, 4, background.shape), 0, 255).astype(np.uint8)

    images, framed = {}, dict(long_range=long_cells, control=control_cells)
    for task, cells in framed.items():
        image = background.copy()
        for (row, col), patch in zip(cells, patches):
            image[row * cell:(row + 1) * cell, col * cell:(col + 1) * cell] = patch
        images[task] = image
    return dict(images=images, label=int(same), colours=(first, second),
                classes=(first_class, second_class), framed=framed, distractors=distractors)


def _write_long_range_split(root: str, split: str, split_id: int, spec: LongRangeSpec) -> int:
    for task in LONG_RANGE_TASKS:
        for label in LABELS:
            os.makedirs(osp.join(root, task, split, label))
    count = spec.num_train if split == 'train' else spec.num_val
    scenes = []
    for index in range(count):
        scene = draw_scene(spec, split_id, index)
        name = f'{index:06d}.png'
        for task, image in scene['images'].items():
            Image.fromarray(image).save(osp.join(root, task, split, LABELS[scene['label']], name))
        scenes.append(dict(
            file_name=name, label=LABELS[scene['label']],
            colours=list(scene['colours']), classes=[SHAPE_CLASSES[c] for c in scene['classes']],
            framed={task: [list(c) for c in cells] for task, cells in scene['framed'].items()},
            distractors=[dict(cell=list(c), colour=k)
                         for c, k in scene['distractors']]))
    with open(osp.join(root, f'scenes_{split}.json'), 'w') as f:
        json.dump(dict(grid=spec.grid, cell_size=spec.image_size // spec.grid,
                       palette=PALETTE, scenes=scenes), f)
    return count


def generate_long_range(root: str, spec: LongRangeSpec = LongRangeSpec(),
                        force: bool = False) -> dict:
    """Write both tasks under ``root``; returns a summary.

    Like :func:`mmsola.datasets.generate_shapes`: a folder this generator wrote with the same
    spec is reused (unless ``force``), a non-empty foreign folder is refused, and the data is
    built in a staging folder and moved into place only when complete.

    Raises:
        FileExistsError: ``root`` is a file, or a non-empty folder without the marker.
    """
    def build(folder: str) -> dict:
        return {split: _write_long_range_split(folder, split, i, spec) for i, split in enumerate(SPLITS)}

    return write_generated_folder(root, 'long_range', LONG_RANGE_FORMAT_VERSION,
                                  dataclasses.asdict(spec), build, force=force)


# Boards drawn on the fly, with the distance between the deciding cells as the knob.


@dataclasses.dataclass(frozen=True)
class BoardSpec:
    """One setting of the distance benchmark.

    Args:
        seed: seed of the scene stream (each scene is drawn from (seed, split, index)).
        image_size: side of the square images, in pixels; a multiple of ``grid``.
        grid: cells per side of the board.
        distance: cells between the two framed cells along both axes: they sit on a diagonal,
            ``distance`` rows and ``distance`` columns apart (1: touching at a corner;
            ``grid - 1``: opposite corners of the board).
        num_distractors: unframed shapes per board.
    """
    seed: int = 0
    image_size: int = 96
    grid: int = 6
    distance: int = 1
    num_distractors: int = 4

    def __post_init__(self) -> None:
        check_integer_fields(self)
        if self.image_size % self.grid or self.image_size // self.grid < 12:
            raise ValueError(f'BoardSpec.image_size ({self.image_size}) must be a multiple of '
                             f'grid ({self.grid}) with cells of at least 12 pixels')
        if not 1 <= self.distance < self.grid:
            raise ValueError(f'BoardSpec.distance must be in [1, grid - 1 = {self.grid - 1}], '
                             f'got {self.distance}')
        if self.num_distractors > self.grid * self.grid - 2:
            raise ValueError(f'BoardSpec.num_distractors ({self.num_distractors}) leaves no '
                             f'room on a {self.grid} x {self.grid} board')

    @property
    def cell_size(self) -> int:
        return self.image_size // self.grid

    @property
    def frame_width(self) -> int:
        return max(2, self.cell_size // 10)

    @property
    def pixel_distance(self) -> float:
        """Distance between the centres of the two framed cells, in pixels."""
        return float(np.hypot(self.distance, self.distance) * self.cell_size)


def diagonal_pairs(grid: int, distance: int) -> List[Tuple[Cell, Cell]]:
    """Every pair of cells ``distance`` rows and ``distance`` columns apart, on either diagonal
    direction; ``distance = grid - 1`` leaves the two pairs of opposite corners."""
    pairs = []
    for row in range(grid - distance):
        for col in range(grid):
            for other_col in (col + distance, col - distance):
                if 0 <= other_col < grid:
                    pairs.append(((row, col), (row + distance, other_col)))
    return pairs


def draw_board(spec: BoardSpec, split_id: int, index: int) -> Dict[str, object]:
    """Draw board ``index`` of a split.

    The random stream does not depend on ``spec.distance``: for one (seed, split, index), boards
    at different distances share the colours, the framed patches, the background and, apart from
    a distractor that would sit on a framed cell, the distractors; only where the framed cells
    are differs.

    Returns:
        dict with ``image`` ((S, S, 3) uint8, RGB), ``label`` (0 different, 1 same),
        ``colours`` and ``classes`` of the two framed shapes, ``framed`` (their two cells) and
        ``distractors`` (list of (cell, palette index)).
    """
    rng = np.random.default_rng([spec.seed, split_id, index])
    grid, cell = spec.grid, spec.cell_size
    same = index % 2 == 1
    first = int(rng.integers(len(PALETTE)))
    second = first if same else int((first + rng.integers(1, len(PALETTE))) % len(PALETTE))
    pairs = diagonal_pairs(grid, spec.distance)
    framed = pairs[int(rng.random() * len(pairs))]
    if rng.integers(2):
        framed = framed[::-1]
    (first_class, first_patch), (second_class, second_patch) = (
        _framed_patch(rng, cell, first, spec.frame_width),
        _framed_patch(rng, cell, second, spec.frame_width))

    image = _texture(rng, spec.image_size)
    order = rng.permutation(grid * grid)
    free = [(int(i) // grid, int(i) % grid) for i in order if (i // grid, i % grid) not in framed]
    distractors = []
    for at in free[:spec.num_distractors]:  # a stream per cell: the same at every distance
        cell_rng = np.random.default_rng([spec.seed, split_id, index, 1 + at[0] * grid + at[1]])
        distractors.append((at, _distractor(cell_rng, image, cell, at)))
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    for (row, col), patch in zip(framed, (first_patch, second_patch)):
        image[row * cell:(row + 1) * cell, col * cell:(col + 1) * cell] = patch
    return dict(image=image, label=int(same), colours=(first, second),
                classes=(first_class, second_class), framed=framed, distractors=distractors)


@DATASETS.register_module()
class LongRangeBoards(BaseDataset):
    """Same-colour boards (see :func:`draw_board`) drawn when they are read, for mmpretrain.

    Nothing is written to disk, and every index is a different board: a training run over
    ``num_samples`` >= iterations x batch size never sees a board twice, so it cannot memorise.
    A sample is a dict with ``img`` ((S, S, 3) uint8, BGR, as ``LoadImageFromFile`` gives),
    ``img_shape``, ``ori_shape`` and ``gt_label``; the pipeline starts from there (e.g.
    ``[dict(type='PackInputs')]``).

    Args:
        distance: see :class:`BoardSpec`.
        split: ``'train'`` or ``'val'``: separate scene streams of the same seed.
        num_samples: the dataset's length.
        seed, image_size, grid, num_distractors: see :class:`BoardSpec`.
        pipeline: transforms applied to every sample.
        test_mode: as in MMEngine's ``BaseDataset``.
    """
    METAINFO = dict(classes=LABELS)

    def __init__(self,
                 distance: int,
                 split: str = 'train',
                 num_samples: int = 1000,
                 seed: int = 0,
                 image_size: int = BoardSpec.image_size,
                 grid: int = BoardSpec.grid,
                 num_distractors: int = BoardSpec.num_distractors,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'LongRangeBoards.split must be one of {SPLITS}, got {split!r}')
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f'LongRangeBoards.num_samples must be a positive integer, got '
                             f'{num_samples!r}')
        self.spec = BoardSpec(seed=seed, image_size=image_size, grid=grid, distance=distance,
                              num_distractors=num_distractors)
        self.split_id = SPLITS.index(split)
        self.num_samples = num_samples
        super().__init__(pipeline=list(pipeline), test_mode=test_mode, **kwargs)

    def load_data_list(self) -> List[dict]:
        return [dict(sample_idx=index) for index in range(self.num_samples)]

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        board = draw_board(self.spec, self.split_id, info['sample_idx'])
        image = np.ascontiguousarray(board['image'][..., ::-1])
        info.update(img=image, img_shape=image.shape[:2], ori_shape=image.shape[:2],
                    gt_label=board['label'])
        return info

    def get_gt_labels(self) -> np.ndarray:
        """Labels alternate by index: odd boards are ``same``."""
        return np.arange(self.num_samples) % 2
