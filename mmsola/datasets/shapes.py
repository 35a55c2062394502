"""A small, deterministic dataset of coloured shapes on textured backgrounds.

One call writes, under one root folder, the three layouts the OpenMMLab libraries read:

* ``images/{train,val}/*.png`` with ``annotations/instances_{train,val}.json``: COCO instances
  (boxes and RLE masks of the *visible* part of every shape; later shapes occlude earlier ones),
  for mmdet's ``CocoDataset``;
* ``seg_maps/{train,val}/*.png``: per-pixel class indices (0 = background) of the same images,
  for mmseg's ``BaseSegDataset``;
* ``cls/{train,val}/<class>/<class>_*.png``: one shape per image, class-per-folder, for
  mmpretrain's ``CustomDataset``; file names are unique across the folders, because the
  visualisation hooks name their pictures after them.

Every image is drawn from its own random stream seeded by (seed, split, index), so the data is
identical across runs and machines, and asking for more images keeps the earlier ones.
"""
import dataclasses
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .staging import write_generated_folder

SHAPE_CLASSES = ('circle', 'square', 'triangle')
#: Bumped whenever the generated files change, so that old folders are rebuilt.
SHAPES_FORMAT_VERSION = 2
SPLITS = ('train', 'val')


def check_integer_fields(spec, may_be_zero: Sequence[str] = ()) -> None:
    """Raise ``ValueError`` naming the first field of a spec dataclass that is not an integer,
    or (``seed`` aside) not positive; fields in ``may_be_zero`` may also be 0."""
    for field in dataclasses.fields(spec):
        value = getattr(spec, field.name)
        lowest = 0 if field.name in may_be_zero else 1
        wanted = ('an integer' if field.name == 'seed' else
                  'a non-negative integer' if lowest == 0 else 'a positive integer')
        if not isinstance(value, int) or (field.name != 'seed' and value < lowest):
            raise ValueError(f'{type(spec).__name__}.{field.name} must be {wanted}, '
                             f'got {value!r}')


@dataclasses.dataclass(frozen=True)
class ShapesSpec:
    """What to generate.

    Args:
        seed: seed of every random stream.
        image_size: side of the square images, in pixels.
        num_train: scenes in the train split (detection/segmentation).
        num_val: scenes in the val split.
        max_objects: most shapes per scene (at least one).
        cls_per_class_train: classification images per class, train split.
        cls_per_class_val: classification images per class, val split.
        min_visible_pixels: an instance occluded below this area is not annotated.
    """
    seed: int = 0
    image_size: int = 128
    num_train: int = 1000
    num_val: int = 100
    max_objects: int = 4
    cls_per_class_train: int = 1500
    cls_per_class_val: int = 100
    min_visible_pixels: int = 40

    def __post_init__(self) -> None:
        check_integer_fields(self)
        if self.image_size < 32:
            raise ValueError(f'ShapesSpec.image_size must be at least 32, got {self.image_size}')


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A (size, size, 3) float background: smooth noise, stripes or a checkerboard."""
    base, other = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    kind = rng.integers(3)
    yy, xx = np.mgrid[0:size, 0:size] / size
    if kind == 0:
        grid = rng.uniform(0, 1, (5, 5))
        weight = np.asarray(Image.fromarray((grid * 255).astype(np.uint8)).resize(
            (size, size), Image.BICUBIC), dtype=np.float64) / 255
    elif kind == 1:
        angle, freq = rng.uniform(0, np.pi), rng.uniform(3, 10)
        weight = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
    else:
        cells = rng.integers(3, 9)
        weight = ((np.floor(xx * cells) + np.floor(yy * cells)) % 2).astype(np.float64)
    weight = weight[..., None] * rng.uniform(0.2, 0.6)
    return base * (1 - weight) + other * weight


def _shape_mask(kind: str, center: Tuple[float, float], radius: float, angle: float,
                size: int) -> np.ndarray:
    """Boolean (size, size) mask of one filled shape."""
    canvas = Image.new('L', (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    cx, cy = center
    if kind == 'circle':
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=1)
    else:
        corners = 4 if kind == 'square' else 3
        angles = angle + 2 * np.pi * np.arange(corners) / corners
        draw.polygon([(cx + radius * np.cos(a), cy + radius * np.sin(a)) for a in angles], fill=1)
    return np.asarray(canvas, dtype=bool)


def _draw_scene(rng: np.random.Generator, size: int, num_objects: int,
                min_visible: int) -> Tuple[np.ndarray, np.ndarray, List[Tuple[int, np.ndarray]]]:
    """Returns the image (H, W, 3) uint8, the class map (H, W) uint8 and visible instances."""
    image = _texture(rng, size)
    class_map = np.zeros((size, size), np.uint8)
    instances: List[Tuple[int, np.ndarray]] = []
    for _ in range(num_objects):
        label = int(rng.integers(len(SHAPE_CLASSES)))
        radius = rng.uniform(0.08, 0.25) * size
        center = tuple(rng.uniform(radius * 0.5, size - radius * 0.5, 2))
        mask = _shape_mask(SHAPE_CLASSES[label], center, radius, rng.uniform(0, 2 * np.pi), size)
        if not mask.any():
            continue
        colour = rng.uniform(0, 255, 3)
        shade = 1 + 0.15 * (np.mgrid[0:size, 0:size][0] / size - 0.5)  # a soft vertical light
        image[mask] = np.clip(colour[None] * shade[mask][:, None], 0, 255)
        class_map[mask] = label + 1
        instances = [(lbl, m & ~mask) for lbl, m in instances]
        instances.append((label, mask))
    visible = [(lbl, m) for lbl, m in instances if m.sum() >= min_visible]
    noise = rng.normal(0, 4, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8), class_map, visible


def _mask_to_bbox(mask: np.ndarray) -> List[float]:
    rows, cols = np.nonzero(mask)
    x0, y0 = int(cols.min()), int(rows.min())
    return [float(x0), float(y0), float(cols.max() - x0 + 1), float(rows.max() - y0 + 1)]


def _encode_rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def _write_shapes_split(root: str, split: str, split_id: int, spec: ShapesSpec) -> Dict[str, int]:
    images, annotations = [], []
    for folder in ('images', 'seg_maps'):
        os.makedirs(osp.join(root, folder, split))
    count = spec.num_train if split == 'train' else spec.num_val
    for index in range(count):
        rng = np.random.default_rng([spec.seed, split_id, index])
        num_objects = int(rng.integers(1, spec.max_objects + 1))
        image, class_map, instances = _draw_scene(rng, spec.image_size, num_objects,
                                                  spec.min_visible_pixels)
        name = f'{index:06d}.png'
        Image.fromarray(image).save(osp.join(root, 'images', split, name))
        Image.fromarray(class_map).save(osp.join(root, 'seg_maps', split, name))
        images.append(dict(id=index, file_name=name, width=spec.image_size,
                           height=spec.image_size))
        for label, mask in instances:
            annotations.append(
                dict(id=len(annotations) + 1, image_id=index, category_id=label + 1,
                     bbox=_mask_to_bbox(mask), area=float(mask.sum()), iscrowd=0,
                     segmentation=_encode_rle(mask)))
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(SHAPE_CLASSES)]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)

    per_class = spec.cls_per_class_train if split == 'train' else spec.cls_per_class_val
    for label, name in enumerate(SHAPE_CLASSES):
        folder = osp.join(root, 'cls', split, name)
        os.makedirs(folder)
        for index in range(per_class):
            rng = np.random.default_rng([spec.seed, 10 + split_id, label, index])
            image = _texture(rng, spec.image_size)
            radius = rng.uniform(0.15, 0.4) * spec.image_size
            center = tuple(rng.uniform(radius, spec.image_size - radius, 2))
            mask = _shape_mask(name, center, radius, rng.uniform(0, 2 * np.pi), spec.image_size)
            image[mask] = rng.uniform(0, 255, 3)
            file_name = osp.join(folder, f'{name}_{index:06d}.png')
            Image.fromarray(image.astype(np.uint8)).save(file_name)
    return dict(images=len(images), instances=len(annotations),
                cls_images=per_class * len(SHAPE_CLASSES))


def generate_shapes(root: str, spec: ShapesSpec = ShapesSpec(), force: bool = False) -> dict:
    """Write the dataset under ``root`` and validate it; returns a summary.

    An existing ``root`` that this generator wrote with the same spec is left as it is (unless
    ``force``); one it wrote with another spec is replaced. A non-empty folder it did not write
    is refused. The data is built in a temporary sibling folder and moved into place at the end,
    so an interrupted run never leaves a half-written dataset under ``root``.

    Raises:
        FileExistsError: ``root`` is a file, or a non-empty folder without the marker.
    """
    def build(folder: str) -> dict:
        summary = {split: _write_shapes_split(folder, split, i, spec) for i, split in enumerate(SPLITS)}
        validate_shapes(folder)
        return summary

    return write_generated_folder(root, 'shapes', SHAPES_FORMAT_VERSION,
                                  dataclasses.asdict(spec), build, force=force)


def validate_shapes(root: str) -> None:
    """Check what :func:`generate_shapes` wrote; raises ``ValueError`` naming the bad file.

    pycocotools must load both annotation files; every instance's RLE mask must decode to the
    image size, be non-empty, and have exactly its box and area; every segmentation map must
    hold only known class indices; every class folder must hold images.
    """
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    for split in SPLITS:
        ann_file = osp.join(root, 'annotations', f'instances_{split}.json')
        try:
            coco = COCO(ann_file)
        except Exception as err:  # pycocotools raises bare assertions
            raise ValueError(f'{ann_file}: pycocotools cannot load it ({err!r})') from err
        for ann in coco.dataset['annotations']:
            info = coco.imgs[ann['image_id']]
            mask = mask_utils.decode(ann['segmentation']).astype(bool)
            where = f"{ann_file}: annotation {ann['id']} (image {info['file_name']})"
            if mask.shape != (info['height'], info['width']) or not mask.any():
                raise ValueError(f'{where}: mask is empty or not of the image size')
            if _mask_to_bbox(mask) != ann['bbox'] or float(mask.sum()) != ann['area']:
                raise ValueError(f"{where}: bbox {ann['bbox']} / area {ann['area']} do not "
                                 f'match the mask ({_mask_to_bbox(mask)} / {mask.sum()})')
        for info in coco.dataset['images']:
            seg_file = osp.join(root, 'seg_maps', split, info['file_name'])
            if not osp.isfile(osp.join(root, 'images', split, info['file_name'])):
                raise ValueError(f"{ann_file}: image {info['file_name']} is missing")
            seg = np.asarray(Image.open(seg_file))
            if seg.shape != (info['height'], info['width']) or seg.max() > len(SHAPE_CLASSES):
                raise ValueError(f'{seg_file}: wrong size or class index above '
                                 f'{len(SHAPE_CLASSES)}')
        for name in SHAPE_CLASSES:
            folder = osp.join(root, 'cls', split, name)
            if not osp.isdir(folder) or not os.listdir(folder):
                raise ValueError(f'{folder}: no classification images')
