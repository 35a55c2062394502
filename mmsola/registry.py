"""mmsola's place in MMEngine's registry tree.

mmsola's modules are registered once, in MMEngine's root registries, and ``mmsola.registry``
adds a child node with the scope ``mmsola``:

* ``type='mmsola.SoLAVision'`` works in any mmdet, mmseg or mmpretrain config with no
  ``custom_imports``: MMEngine imports ``mmsola.registry`` on seeing the scope, and the child's
  ``locations`` import ``mmsola.models`` on first use; the child finds the class in its parent.
* ``type='SoLAVision'`` works after ``custom_imports=dict(imports=['mmsola.models'])``: every
  library's registry searches its parent, the root, for names it does not hold. A class
  registered only in the child would be out of their reach (siblings are not searched).
"""
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as ROOT_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import Registry

#: Where mmsola registers its models (the root of the tree).
MODELS = ROOT_MODELS
#: Where mmsola registers its optimizer-wrapper constructors (the root of the tree).
OPTIM_WRAPPER_CONSTRUCTORS = ROOT_OPTIM_WRAPPER_CONSTRUCTORS

#: The ``mmsola`` scope nodes, children of the roots, that import mmsola's modules lazily.
MODELS_SCOPE = Registry('model', parent=ROOT_MODELS, scope='mmsola', locations=['mmsola.models'])
OPTIM_WRAPPER_CONSTRUCTORS_SCOPE = Registry(
    'optimizer wrapper constructor',
    parent=ROOT_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmsola',
    locations=['mmsola.engine'])
