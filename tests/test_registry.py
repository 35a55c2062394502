"""mmsola registers into MMEngine's registry tree once; every OpenMMLab library finds it."""
import subprocess
import sys

import pytest
from mmengine.registry import MODELS as ROOT_MODELS


def test_scope_node_is_child_of_mmengine_root():
    from mmsola.registry import MODELS_SCOPE
    assert MODELS_SCOPE.parent is ROOT_MODELS
    assert MODELS_SCOPE.scope == 'mmsola'
    assert ROOT_MODELS.children['mmsola'] is MODELS_SCOPE
    assert MODELS_SCOPE._locations == ['mmsola.models']


def test_modules_are_registered_once_in_the_root():
    from mmsola.models import SoLAVision
    from mmsola.registry import MODELS_SCOPE
    assert ROOT_MODELS.get('SoLAVision') is SoLAVision
    assert MODELS_SCOPE.get('SoLAVision') is SoLAVision  # found through the parent
    assert 'SoLAVision' not in MODELS_SCOPE.module_dict


@pytest.mark.parametrize('library', ['mmdet', 'mmseg', 'mmpretrain'])
def test_scoped_type_builds_from_each_library_in_a_fresh_process(library):
    """Nothing imports mmsola beforehand: the scope in the type name is enough."""
    code = (f'from {library}.registry import MODELS\n'
            "m = MODELS.build(dict(type='mmsola.SoLAVision', arch=dict(embed_dims=(8, 8, 16, 16),"
            " depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))))\n"
            "print(type(m).__module__)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'mmsola.models.backbones.sola_vision'


@pytest.mark.parametrize('library', ['mmdet', 'mmseg', 'mmpretrain'])
def test_bare_type_builds_after_custom_imports(library):
    code = ('from mmengine.config import Config\n'
            'from mmengine.utils import import_modules_from_strings\n'
            "cfg = Config(dict(custom_imports=dict(imports=['mmsola.models'])))\n"
            'import_modules_from_strings(**cfg.custom_imports)\n'
            f'from {library}.registry import MODELS\n'
            f"with MODELS.switch_scope_and_registry('{library}') as registry:\n"
            "    m = registry.build(dict(type='SoLAVision', arch=dict(embed_dims=(8, 8, 16, 16),"
            " depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))))\n"
            'print(type(m).__name__)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'SoLAVision'
