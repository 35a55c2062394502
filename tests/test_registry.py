"""mmsola registers into MMEngine's registry tree once; every OpenMMLab library finds it."""
import subprocess
import sys

import pytest
from mmengine.registry import MODELS as ROOT_MODELS


def test_scope_node_is_child_of_mmengine_root():
    from mmsola.registry import MODELS
    assert MODELS.parent is ROOT_MODELS
    assert MODELS.scope == 'mmsola'
    assert ROOT_MODELS.children['mmsola'] is MODELS
    assert MODELS._locations == ['mmsola.models']


def test_nothing_of_mmsola_is_in_the_root_registries():
    """Generic names such as SoftmaxAttention cannot collide with another package's."""
    import mmengine.registry as root

    import mmsola.engine  # noqa: F401
    import mmsola.models  # noqa: F401
    from mmsola.registry import MODEL_WRAPPERS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS
    for registry, name in ((MODELS, 'SoftmaxAttention'), (MODELS, 'SoLAVision'),
                           (MODELS, 'ProjectionPoolNeck'),
                           (MODEL_WRAPPERS, 'CPUDistributedDataParallel'),
                           (OPTIM_WRAPPER_CONSTRUCTORS, 'LayerDecayOptimWrapperConstructor')):
        assert name in registry.module_dict
        assert name not in registry.parent.module_dict
    assert not [name for name, cls in root.MODELS.module_dict.items()
                if cls.__module__.startswith('mmsola')]


def test_custom_mixer_registered_in_the_root_is_found_by_bare_name():
    from mmsola.models import SoftmaxAttention, SoLAVision

    @ROOT_MODELS.register_module(force=True)
    class RootRegisteredMixer(SoftmaxAttention):
        pass

    try:
        model = SoLAVision(arch=dict(embed_dims=(8, 8, 16, 16), depths=(1, 1, 1, 1),
                                     num_heads=(1, 1, 1, 1)),
                           layout='L,L,X,L', mixers=dict(X=dict(type='RootRegisteredMixer')))
        assert type(model.stages[2].blocks[0].mixer) is RootRegisteredMixer
    finally:
        ROOT_MODELS.module_dict.pop('RootRegisteredMixer')


@pytest.mark.parametrize('library', ['mmdet', 'mmseg', 'mmpretrain'])
def test_scoped_type_builds_from_each_library_in_a_fresh_process(library):
    """Nothing imports mmsola beforehand: the scope in the type name is enough."""
    code = (f'from {library}.registry import MODELS\n'
            "m = MODELS.build(dict(type='mmsola.SoLAVision', arch=dict(embed_dims=(8, 8, 16, 16),"
            " depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))))\n"
            "print(type(m).__module__)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'mmsola.models.backbones.sola_vision'
