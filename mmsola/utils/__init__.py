from .checkpoint import (CorruptCheckpointError, UnsafeCheckpointError,
                         enable_safe_checkpoint_loading, trusted_checkpoint_loading)

__all__ = [
    'CorruptCheckpointError', 'UnsafeCheckpointError', 'enable_safe_checkpoint_loading',
    'trusted_checkpoint_loading'
]
