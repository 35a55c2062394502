"""Let MMEngine resolve ``_base_ = 'mmsola::<path>'`` in configs of other projects."""


def register_config_scope() -> None:
    """Add mmsola to the packages whose ``.mim/configs`` MMEngine's ``Config`` may read.

    MMEngine 0.10 only resolves ``pkg::path`` for the OpenMMLab packages in its own table; this
    adds ``mmsola`` to it. It runs on ``import mmsola``, so a script that parses a config with
    ``mmsola::`` bases must import mmsola first (``tools/train.py`` and ``tools/test.py`` do).
    """
    from mmengine.config import utils
    utils.MODULE2PACKAGE.setdefault('mmsola', 'mmsola')
