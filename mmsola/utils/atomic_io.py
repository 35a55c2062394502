"""Atomic writes for MMEngine's local file backend.

MMEngine writes checkpoints with ``open(path, 'wb').write(...)``: a run killed while saving
leaves a truncated ``iter_N.pth`` that ``--resume`` may later pick. Registered on
``import mmsola`` in place of ``LocalBackend`` for plain paths, :class:`AtomicLocalBackend`
writes to a temporary file in the same folder, syncs it, and renames it over the target, so a
file under its final name is always complete.
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put``/``put_text`` replace the target in one rename."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        filepath = str(filepath)
        folder = osp.dirname(osp.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(filepath)}.', suffix='.partial',
                                   dir=folder)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)


def enable_atomic_local_writes() -> None:
    """Make MMEngine use :class:`AtomicLocalBackend` for local paths (checkpoints included)."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
