"""Converters of other implementations' checkpoints into mmsola's key layout."""
from .mala_family import (FAMILIES, FamilyCheckpointError, convert_family_checkpoint,
                          load_family_checkpoint)

__all__ = [
    'FAMILIES', 'FamilyCheckpointError', 'convert_family_checkpoint', 'load_family_checkpoint'
]
