"""Models: attention kernels and token mixers (``attention``), the backbone (``backbones``) and
the classification neck (``necks``). Task heads and necks come from mmpretrain, mmdet, mmseg."""
from .attention import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
