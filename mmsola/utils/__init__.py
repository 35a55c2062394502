from .checkpoint import (UnsafeCheckpointError, enable_safe_checkpoint_loading,
                         load_pretrained, trusted_checkpoint_loading)

__all__ = [
    'UnsafeCheckpointError', 'enable_safe_checkpoint_loading', 'load_pretrained',
    'trusted_checkpoint_loading'
]
