"""Training machinery that mmsola adds to MMEngine: layer-wise lr decay for every task, CPU
data parallelism, and what the tools do to a config."""
from .cpu_distributed import CPUDistributedDataParallel, prepare_cpu_distributed
from .optim_constructors import LayerDecayOptimWrapperConstructor

__all__ = [
    'CPUDistributedDataParallel', 'LayerDecayOptimWrapperConstructor', 'prepare_cpu_distributed'
]
