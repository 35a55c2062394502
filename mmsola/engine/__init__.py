"""Training machinery that mmsola adds to MMEngine (optimizer-wrapper constructors)."""
from .optim_constructors import LayerDecayOptimWrapperConstructor

__all__ = ['LayerDecayOptimWrapperConstructor']
