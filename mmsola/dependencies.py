"""Fail early, with guidance, when the OpenMMLab stack is out of the range mmsola is tested on."""
from importlib import metadata

from packaging.version import Version

# (distribution, lowest accepted, first rejected, why)
SUPPORTED_RANGES = (
    ('mmengine', '0.10.0', '1.0.0', 'the Runner, registry and config API mmsola uses'),
    ('mmcv', '2.0.0', '2.2.0', 'mmdet 3.3.0 and mmseg 1.2.2 refuse mmcv>=2.2.0'),
)


def check_dependencies() -> None:
    """Raise ``ImportError`` naming the package, its version and how to fix the install."""
    for dist, lowest, first_rejected, why in SUPPORTED_RANGES:
        try:
            found = Version(metadata.version(dist))
        except metadata.PackageNotFoundError:
            raise ImportError(
                f'mmsola needs {dist}>={lowest},<{first_rejected} ({why}), but {dist} is not '
                f'installed. Run `make install` (or scripts/setup_env.sh) in the mmsola checkout.'
            ) from None
        if not Version(lowest) <= found < Version(first_rejected):
            raise ImportError(
                f'mmsola needs {dist}>={lowest},<{first_rejected} ({why}); found {dist} {found}. '
                f'Run `make install` (or scripts/setup_env.sh) to get the tested versions.')
