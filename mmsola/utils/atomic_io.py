"""Atomic writes for MMEngine's local file backend.

MMEngine writes checkpoints with ``open(path, 'wb').write(...)``: a run killed while saving
leaves a truncated ``iter_N.pth`` that ``--resume`` may later pick. Registered on
``import mmsola`` in place of ``LocalBackend`` for plain paths, :class:`AtomicLocalBackend`
writes to a temporary file in the same folder, syncs it, and renames it over the target, so a
file under its final name is always complete. Its mode is what a plain ``open`` would give:
the existing file's, or 0o666 less the umask for a new one (``mkstemp`` alone makes it 0600).
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put``/``put_text`` replace the target in one rename."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        filepath = str(filepath)
        folder = osp.dirname(osp.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(filepath)}.', suffix='.partial',
                                   dir=folder)
        try:
            mode = (os.stat(filepath).st_mode & 0o7777 if osp.exists(filepath) else
                    0o666 & ~current_umask())
            os.fchmod(fd, mode)
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
