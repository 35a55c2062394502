"""Checkpoint loading that stays safe on torch >= 2.6 and still reads mmengine's checkpoints.

torch >= 2.6 unpickles with ``weights_only=True`` by default, which refuses anything but tensors
and plain containers. mmengine 0.10.7 calls ``torch.load`` without the argument, so resuming a
Runner checkpoint fails: it holds ``HistoryBuffer`` objects and numpy arrays/scalars in
``message_hub``. Instead of turning safe loading off, mmsola

* allow-lists exactly the classes mmengine writes (:func:`mmengine_checkpoint_globals`), and
* registers a local-file loader for mmengine's ``CheckpointLoader`` that passes
  ``weights_only=True`` explicitly and turns a refusal into an :class:`UnsafeCheckpointError`
  naming the file, the refused object and how to load a trusted file on purpose.

Everything else (an arbitrary pickled object) is still refused.
"""
import contextlib
import inspect
import os.path as osp
import pickle
import re
import threading
from typing import Callable, Iterator, List, Tuple, Union

import torch
from mmengine.runner.checkpoint import CheckpointLoader

_state = threading.local()


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file that torch cannot read: truncated, or not a checkpoint at all."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a pickled object outside the allow-list of safe classes."""


def _supports_safe_globals() -> bool:
    return hasattr(torch.serialization, 'add_safe_globals')


def history_buffer_method(owner: type, name: str) -> Callable:
    """Stands in for ``builtins.getattr`` while unpickling, limited to HistoryBuffer's methods.

    A :class:`~mmengine.logging.HistoryBuffer` pickles its statistics methods (``min``, ``max``,
    ``current``, ``mean`` and registered ones) as ``getattr(HistoryBuffer, 'min')``. Allowing
    the real ``getattr`` would let a file walk from any allowed class to arbitrary callables;
    this only returns functions defined on HistoryBuffer, which unpickling cannot call.
    """
    from mmengine.logging import HistoryBuffer
    method = None
    if owner is HistoryBuffer and not name.startswith('_'):
        method = getattr(HistoryBuffer, name, None)
    if not inspect.isfunction(method):
        raise pickle.UnpicklingError(
            f'refused getattr({getattr(owner, "__name__", owner)!r}, {name!r}): only methods of '
            'mmengine HistoryBuffer may be looked up while loading a checkpoint')
    return method


def empty_bytes(*args) -> bytes:
    """Stands in for ``builtins.bytes`` while unpickling, limited to ``bytes()``.

    Pickle protocol 2 (torch.save's) writes an empty ``bytes`` object, such as the data of an
    empty numpy array (``np.array([])``, an empty ``HistoryBuffer``), as the call ``bytes()``;
    non-empty ones go through ``_codecs.encode``. Allowing the real ``bytes`` would let a file
    allocate ``bytes(n)`` of any size; this builds only the empty object.
    """
    if args:
        raise pickle.UnpicklingError(
            f'refused bytes{args!r}: only the empty bytes() may be built while loading a '
            'checkpoint')
    return b''


def mmengine_checkpoint_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """Classes and functions that a checkpoint saved by mmengine's Runner pickles.

    ``message_hub`` holds :class:`~mmengine.logging.HistoryBuffer` objects whose state is numpy
    arrays and references to the buffer's statistics methods, and ``runtime_info``/``meta`` may
    hold numpy scalars: numpy's array and scalar reconstructors and dtypes are needed for those,
    ``getattr`` only in the restricted form of :func:`history_buffer_method`, and ``bytes`` only
    as :func:`empty_bytes` (the data of an empty array).
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer

    try:  # numpy >= 2 moved the reconstructors into numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    numpy_dtype_classes = [type(np.dtype(name)) for name in (
        'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
        'float16', 'float32', 'float64')]
    return [
        HistoryBuffer, (history_buffer_method, 'builtins.getattr'), (empty_bytes, 'builtins.bytes'),
        np.ndarray, np.dtype,
        _reconstruct, scalar, *numpy_dtype_classes
    ]


@contextlib.contextmanager
def trusted_checkpoint_loading() -> Iterator[None]:
    """Load full pickles (``weights_only=False``) inside this block, for files you trust.

    Unpickling can run arbitrary code: use it only for checkpoints from a source you trust.

    Example:
        >>> with trusted_checkpoint_loading():
        ...     runner.load_checkpoint('old_checkpoint_with_custom_objects.pth')
    """
    depth = getattr(_state, 'trusted_depth', 0)
    _state.trusted_depth = depth + 1
    try:
        yield
    finally:
        _state.trusted_depth = depth


def load_local_checkpoint(filename: str, map_location=None) -> dict:
    """mmengine ``CheckpointLoader`` scheme for local files, with explicit safe unpickling."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename} does not exist')
    weights_only = getattr(_state, 'trusted_depth', 0) == 0
    try:
        return torch.load(filename, map_location=map_location, weights_only=weights_only)
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as err:
        # An object outside the allow-list (or a lookup our getattr stand-in refused) is
        # refused; anything else the unpickler cannot read is a broken file.
        refused = re.search(r'GLOBAL ([\w.]+)|refused ((?:getattr|bytes)\([^)]*\))', str(err))
        if weights_only and refused:
            raise UnsafeCheckpointError(
                f'Refused to load checkpoint {filename}: it contains '
                f'`{refused.group(1) or refused.group(2)}`, which is not on '
                'the allow-list of safe classes (tensors, containers and what mmengine '
                'writes). Unpickling it could run arbitrary code. If you trust this file, '
                'either allow-list that class with `torch.serialization.add_safe_globals'
                '([...])`, or load it inside `with mmsola.utils.trusted_checkpoint_loading(): '
                f'...`. torch said: {err}') from err
        raise CorruptCheckpointError(
            f'Cannot read checkpoint {filename} ({osp.getsize(filename)} bytes): it is '
            f'truncated or not a torch checkpoint. torch said: {err}') from err


def enable_safe_checkpoint_loading() -> None:
    """Allow-list mmengine's checkpoint classes and install the safe local-file loader.

    Called on ``import mmsola``. A no-op on torch < 2.4, whose ``torch.load`` has no allow-list.
    """
    if not _supports_safe_globals():
        return
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
