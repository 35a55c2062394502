#!/usr/bin/env bash
# Creates (or brings up to date) the project's virtual environment in .venv/.
#
# Idempotent: every step checks what is already there first. The one slow step, building mmcv's
# compiled ops from source (~12-15 min on 2 cores), is cached as a wheel outside the checkout,
# keyed by mmcv, torch, Python and machine, so later runs and CI on the same machine reuse it.
#
# Environment knobs:
#   PYTHON            interpreter used to create the venv            (default: python3.11 or python3)
#   VENV              where the venv lives                           (default: <repo>/.venv)
#   MMSOLA_CACHE_DIR  where the mmcv wheel is cached                 (default: ~/.cache/mmsola)
#   MAX_JOBS          parallel compile jobs for mmcv                 (default: nproc)
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO_DIR/.venv}
CACHE_DIR=${MMSOLA_CACHE_DIR:-$HOME/.cache/mmsola}

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
# setuptools: torch 2.14 wants >=77; mmcv 2.1.0's setup.py imports pkg_resources, removed in 81.
SETUPTOOLS_SPEC='setuptools>=77,<81'

STEP=''
step() {
    STEP=$1
    printf '\n[setup %s] %s\n' "$(date +%H:%M:%S)" "$1"
}
trap 'rc=$?; [ $rc -ne 0 ] && printf "\n[setup] FAILED at step: %s (exit %d). See the output above.\n" "$STEP" "$rc" >&2' EXIT

step "virtual environment ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
    if [ -z "${PYTHON:-}" ]; then
        PYTHON=$(command -v python3.11 || command -v python3)
    fi
    "$PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 9), "Python >= 3.9 required"'
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --no-input)
"$PY" -c 'import sys; print("python", sys.version.split()[0], "at", sys.executable)'

installed_version() {  # prints the installed version of a distribution, or nothing
    "$PY" - "$1" <<'PYEOF'
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
PYEOF
}

step "torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
if [ "$(installed_version torch)" != "$TORCH_VERSION" ] || \
   [ "$(installed_version torchvision)" != "$TORCHVISION_VERSION" ]; then
    "${PIP[@]}" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
else
    echo "already installed"
fi

step "build tools ($SETUPTOOLS_SPEC, wheel, ninja)"
"${PIP[@]}" -q "$SETUPTOOLS_SPEC" wheel ninja packaging

step "mmcv==$MMCV_VERSION with compiled ops"
if [ "$(installed_version mmcv)" = "$MMCV_VERSION" ] && \
   "$PY" -c 'import mmcv.ops' >/dev/null 2>&1; then
    echo "already installed"
else
    KEY=$("$PY" -c "import platform, sys, torch; print(f'mmcv-$MMCV_VERSION-torch{torch.__version__.split(\"+\")[0]}-cp{sys.version_info[0]}{sys.version_info[1]}-{platform.machine()}')")
    WHEEL_DIR="$CACHE_DIR/wheels/$KEY"
    WHEEL=$(ls "$WHEEL_DIR"/mmcv-*.whl 2>/dev/null | head -n 1 || true)
    if [ -z "$WHEEL" ]; then
        echo "no cached wheel in $WHEEL_DIR: building from the sdist (about 12-15 min on 2 cores)"
        BUILD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mmsola-mmcv-build.XXXXXX")
        "$PY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: --no-build-isolation \
            "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
        tar -xzf "$BUILD_DIR"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD_DIR"
        SRC="$BUILD_DIR/mmcv-$MMCV_VERSION"
        # torch 2.14's C++ headers need C++20; mmcv 2.1.0 asks for C++17.
        sed -i 's/-std=c++17/-std=c++20/g; s/std=c++14/std=c++20/g' "$SRC/setup.py"
        grep -q 'c++20' "$SRC/setup.py" || { echo "could not raise mmcv's C++ standard in setup.py" >&2; exit 1; }
        (cd "$SRC" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
            "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps \
            -w "$BUILD_DIR/dist" .)
        # Move into the cache only once complete, so an interrupted build never leaves a bad wheel.
        mkdir -p "$WHEEL_DIR"
        BUILT=$(ls "$BUILD_DIR"/dist/mmcv-*.whl)
        mv "$BUILT" "$WHEEL_DIR/.partial.whl"
        mv "$WHEEL_DIR/.partial.whl" "$WHEEL_DIR/$(basename "$BUILT")"
        rm -rf "$BUILD_DIR"
        WHEEL="$WHEEL_DIR/$(basename "$BUILT")"
    else
        echo "using cached wheel $WHEEL"
    fi
    "${PIP[@]}" --no-deps "$WHEEL"
    # mmcv's own runtime requirements (the wheel was installed without them).
    "${PIP[@]}" -q addict "mmengine>=0.3.0" numpy packaging Pillow pyyaml yapf opencv-python
fi

step "OpenMMLab libraries and mmsola (editable, with test extras)"
"${PIP[@]}" -q -e "$REPO_DIR[tests]"

step "check"
"$PY" - <<'PYEOF'
import mmcv, mmcv.ops, mmdet, mmengine, mmpretrain, mmseg, torch, torchvision
import mmsola
for mod in (torch, torchvision, mmengine, mmcv, mmdet, mmseg, mmpretrain, mmsola):
    print(f'{mod.__name__:12s} {mod.__version__}')
PYEOF
STEP=''
echo "[setup] done: activate with 'source $VENV/bin/activate'"
