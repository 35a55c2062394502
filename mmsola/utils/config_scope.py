"""Let MMEngine resolve ``_base_ = 'mmsola::<path>'`` in configs of other projects.

The mechanism lives in the top-level module ``_mmsola_config_scope`` (imported at interpreter
start-up through ``mmsola-config-scope.pth``, so it must not import mmsola); ``import mmsola``
applies it too, for interpreters started with ``-S`` or ``-I``.
"""
import mmengine.config  # noqa: F401  (loads mmengine.config.config, which the scope patches)
from _mmsola_config_scope import install as register_config_scope

__all__ = ['register_config_scope']
