"""The files the analysis tools read: images given as a file or a folder, and a run's scalars."""
import glob
import json
import os.path as osp
from typing import List

from mmengine.utils import scandir


#: File endings the tools accept as images (those OpenCV reads).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def list_images(path: str) -> List[str]:
    """An image file, or the image files of a folder and its sub-folders (sorted).

    Raises:
        FileNotFoundError: naming ``path`` when it does not exist or holds no image.
    """
    if not osp.exists(path):
        raise FileNotFoundError(f'image or folder {path} does not exist')
    if not osp.isdir(path):
        return [path]
    files = sorted(osp.join(path, name)
                   for name in scandir(path, suffix=IMAGE_EXTENSIONS, recursive=True,
                                       case_sensitive=False))
    if not files:
        raise FileNotFoundError(f'folder {path} holds no images ({", ".join(IMAGE_EXTENSIONS)})')
    return files


def latest_run_scalars(work_dir: str) -> List[dict]:
    """The scalar lines (training and validation) of the newest run in an mmengine work dir.

    MMEngine writes each run to ``<work_dir>/<timestamp>/vis_data/scalars.json``; only the
    newest run is read, so an earlier, interrupted or repeated run never mixes in. Lines cut
    short by a crash are skipped.

    Raises:
        FileNotFoundError: naming ``work_dir`` when it holds no run with scalars.
    """
    runs = sorted(glob.glob(osp.join(work_dir, '[0-9]' * 8 + '_' + '[0-9]' * 6, 'vis_data',
                                     'scalars.json')))
    if not runs:
        raise FileNotFoundError(f'{work_dir} holds no <timestamp>/vis_data/scalars.json')
    lines = []
    with open(runs[-1], encoding='utf-8') as f:
        for line in f:
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return [line for line in lines if isinstance(line, dict)]
