"""Write a generated dataset folder all at once, and never over a folder someone else wrote."""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable

from mmsola.utils.atomic_io import current_umask


def write_generated_folder(root: str, dataset: str, format_version: int, spec: dict,
                           build: Callable[[str], dict], force: bool = False) -> dict:
    """Build a dataset into ``root`` through a staging folder; returns its summary.

    Args:
        root: the dataset folder.
        dataset: the generator's name; its marker in ``root`` is ``.mmsola_<dataset>.json``.
        format_version: version of the generator's output; a change rebuilds the folder.
        spec: the generator's settings (a dict of plain values); stored in the marker.
        build: writes the dataset into the folder it is given and returns a summary dict.
        force: rebuild even if ``root`` already holds this version and spec.

    A folder with a marker matching ``wanted`` is reused (``reused=True`` in the summary); one
    with another marker is replaced; a non-empty folder without a marker is refused. ``build``
    runs in a temporary sibling folder that is moved into place only once complete, so an
    interrupted run never leaves a half-written dataset under ``root``.

    Raises:
        FileExistsError: ``root`` is a file, or a non-empty folder without the marker.
    """
    root = osp.abspath(root)
    marker_name = f'.mmsola_{dataset}.json'
    wanted = dict(format_version=format_version, spec=spec)
    marker = osp.join(root, marker_name)
    if osp.exists(root):
        if not osp.isdir(root):
            raise FileExistsError(f'{root} exists and is not a folder')
        if os.listdir(root):
            if not osp.isfile(marker):
                raise FileExistsError(
                    f'refusing to write into {root}: the folder is not empty and was not '
                    f'created by this generator (no {marker_name}); choose another folder')
            with open(marker) as f:
                existing = json.load(f)
            if not force and {k: existing.get(k) for k in wanted} == wanted:
                return dict(existing.get('summary', {}), root=root, reused=True)
    parent = osp.dirname(root)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f'.{osp.basename(root)}-staging-', dir=parent)
    try:
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it owner-only
        summary = build(staging)
        with open(osp.join(staging, marker_name), 'w') as f:
            json.dump(dict(wanted, summary=summary), f, indent=2)
        if osp.exists(root):
            retired = tempfile.mkdtemp(prefix=f'.{osp.basename(root)}-retired-', dir=parent)
            os.replace(root, osp.join(retired, 'old'))
            os.replace(staging, root)
            shutil.rmtree(retired)
        else:
            os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dict(summary, root=root, reused=False)
