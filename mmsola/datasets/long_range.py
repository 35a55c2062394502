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
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from .shapes import SHAPE_CLASSES, SPLITS, _shape_mask, _texture, check_integer_fields
from .staging import write_generated_folder

LONG_RANGE_TASKS = ('long_range', 'control')
LABELS = ('different', 'same')
PALETTE = ((220, 50, 50), (40, 170, 60), (50, 90, 220))
COLOUR_JITTER = 15
#: Bumped whenever the generated files change, so that old folders are rebuilt.
LONG_RANGE_FORMAT_VERSION = 2
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


def _framed_patch(rng: np.random.Generator, cell: int,
                  colour_index: int) -> Tuple[int, np.ndarray]:
    """A shape of a random class and its (cell, cell, 3) uint8 patch: white frame, plain grey
    interior, the shape in palette colour ``colour_index``, pixel noise.

    Every palette colour is more than 100 (Euclidean, 0-255 RGB) from any interior grey.
    """
    label = int(rng.integers(len(SHAPE_CLASSES)))
    interior = np.full(3, rng.uniform(100, 160))
    colour = _palette_colour(rng, colour_index)
    patch = np.empty((cell, cell, 3))
    patch[:] = 255.0
    patch[FRAME_WIDTH:-FRAME_WIDTH, FRAME_WIDTH:-FRAME_WIDTH] = interior
    radius = rng.uniform(0.28, 0.38) * cell
    centre = tuple(cell / 2 + rng.uniform(-0.08, 0.08, 2) * cell)
    mask = _shape_mask(SHAPE_CLASSES[label], centre, radius, rng.uniform(0, 2 * np.pi), cell)
    patch[mask] = colour
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
