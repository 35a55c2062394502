"""mmsola: SoLA-Vision hybrid linear/softmax attention backbones for OpenMMLab."""
from .dependencies import check_dependencies
from .version import __version__

check_dependencies()  # before anything imports mmengine or mmcv, to fail with guidance

from .utils.atomic_io import enable_atomic_local_writes  # noqa: E402
from .utils.checkpoint import enable_safe_checkpoint_loading  # noqa: E402
from .utils.config_scope import register_config_scope  # noqa: E402

enable_safe_checkpoint_loading()
enable_atomic_local_writes()
register_config_scope()

__all__ = ['__version__']
