"""mmsola's place in MMEngine's registry tree.

Every module of mmsola is registered once, in mmsola's own registry nodes: children of
MMEngine's root registries with the scope ``mmsola``. Nothing of mmsola's sits in the root, so
its generic names (``SoftmaxAttention``, ``ProjectionPoolNeck``, ...) cannot collide with those
of another package that registers into the root.

* In mmdet, mmseg and mmpretrain configs, name a module with its scope: ``type='mmsola.SoLAVision'``.
  No ``custom_imports`` is needed: on seeing the scope, MMEngine imports ``mmsola.registry``,
  finds the ``mmsola`` node among the root's children, and the node's ``locations`` import the
  modules on first use.
* MMEngine builds from the registry of the current default scope (``mmdet``'s in an mmdet
  config), whatever registry ``build`` is called on; so mmsola names its own modules with the
  scope everywhere, its token mixers included (``type='mmsola.SoftmaxAttention'``). A custom
  token mixer registered in ``mmsola.registry.MODELS`` is named ``'mmsola.MyMixer'``; one
  registered in MMEngine's root ``MODELS`` (or the task library's) by its bare name.
"""
from mmengine.registry import DATASETS as ROOT_DATASETS
from mmengine.registry import MODEL_WRAPPERS as ROOT_MODEL_WRAPPERS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as ROOT_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import Registry

MODELS = Registry('model', parent=ROOT_MODELS, scope='mmsola', locations=['mmsola.models'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=ROOT_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmsola',
    locations=['mmsola.engine'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=ROOT_MODEL_WRAPPERS, scope='mmsola', locations=['mmsola.engine'])
DATASETS = Registry(
    'dataset', parent=ROOT_DATASETS, scope='mmsola', locations=['mmsola.datasets'])
