"""mmsola: SoLA-Vision hybrid linear/softmax attention backbones for OpenMMLab."""
from .utils.checkpoint import enable_safe_checkpoint_loading
from .utils.config_scope import register_config_scope
from .utils.versions import check_dependencies
from .version import __version__

check_dependencies()
enable_safe_checkpoint_loading()
register_config_scope()

__all__ = ['__version__']
