"""Make ``_base_ = 'mmsola::<path>'`` resolve in every Python process of the environment.

MMEngine 0.10 resolves ``pkg::path`` only for the packages in its fixed table
``mmengine.config.utils.MODULE2PACKAGE``, and finds a package's folder from its distribution's
location, which for a PEP 660 editable install is site-packages, not the checkout. Three changes
make ``mmsola::`` work like ``mmdet::``:

* ``mmsola`` is added to the table;
* ``mmengine.config.config.get_installed_path('mmsola')`` answers from the import system (the
  folder Python imports mmsola from), so editable and wheel installs resolve alike;
* a base config read through ``mmsola::`` gets no ``_scope_='mmsola'`` on its modules. MMEngine
  tags the modules of ``pkg::`` bases with ``pkg``'s scope because they are that package's
  modules; mmsola's configs are mmdet, mmseg and mmpretrain configs (their ``default_scope``
  says which) that name mmsola's own modules with the scope already (``'mmsola.SoLAVision'``).
  Tagged ``mmsola``, their ``ImageClassifier`` or ``CustomDataset`` would be looked up in
  mmsola's registries and not found.

All are applied when ``mmengine.config.config`` is first imported, in any process: the install
places ``mmsola-config-scope.pth`` in site-packages, whose one line calls :func:`install`. That
adds a finder to ``sys.meta_path`` which ignores every other import and removes itself after the
one it waits for, so mmdet's, mmseg's and mmpretrain's own ``tools/train.py`` (which never
import mmsola) parse ``mmsola::`` configs. ``import mmsola`` applies the same changes, for
interpreters started without site-packages processing.

This module is top-level and imports only what every interpreter has loaded at start-up (not
even ``importlib.abc``, whose import takes ~13 ms): it runs in every process of the environment.
"""
import os.path as osp
import sys

PACKAGE = 'mmsola'
TARGET_MODULE = 'mmengine.config.config'


def register_config_scope() -> None:
    """Apply the changes to an already imported ``mmengine.config.config``; idempotent."""
    config_module = sys.modules[TARGET_MODULE]
    utils = sys.modules['mmengine.config.utils']
    utils.MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    original = config_module.get_installed_path
    if getattr(original, '_mmsola_wrapped', False):
        return
    original_cfg_path = config_module.Config._get_cfg_path

    def _get_cfg_path(cfg_path: str, filename: str):
        path, scope = original_cfg_path(cfg_path, filename)
        return path, None if scope == PACKAGE else scope

    config_module.Config._get_cfg_path = staticmethod(_get_cfg_path)

    def get_installed_path(package: str) -> str:
        if package == PACKAGE:
            import importlib.util
            spec = importlib.util.find_spec(PACKAGE)
            if spec is not None and spec.submodule_search_locations:
                return osp.abspath(list(spec.submodule_search_locations)[0])
        return original(package)

    get_installed_path._mmsola_wrapped = True
    get_installed_path.__doc__ = original.__doc__
    config_module.get_installed_path = get_installed_path


class _ConfigScopeLoader:
    """Runs the real loader of ``mmengine.config.config``, then registers the scope."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        register_config_scope()

    def __getattr__(self, name):  # get_source, get_filename, ... for tracebacks and tools
        return getattr(self.loader, name)


class _ConfigScopeFinder:
    """Waits for ``mmengine.config.config`` and wraps its loader; finds nothing itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET_MODULE:
            return None
        import importlib.util
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ConfigScopeLoader(spec.loader)
        return spec


def install() -> None:
    """Register the scope now if MMEngine's config module is loaded, else when it loads."""
    if TARGET_MODULE in sys.modules:
        register_config_scope()
    elif not any(isinstance(finder, _ConfigScopeFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ConfigScopeFinder())
