#!/usr/bin/env bash
# Creates (or brings up to date) the project's virtual environment in .venv/.
#
# Idempotent: every step checks what is already there first, and a complete environment is
# checked without contacting a package index (a cluster node without internet can rerun it).
# The one slow step, building mmcv's compiled ops from source (~15 min on 2 cores), is cached
# as a wheel outside the checkout, keyed by mmcv, the exact torch build (+cpu, +cu130, ...),
# whether CUDA ops were compiled, Python and machine, so later runs and CI on the same machine
# reuse it, and a CPU-only build is never reused on a GPU machine.
#
# Environment knobs:
#   PYTHON            interpreter used to create the venv            (default: python3.11 or python3)
#   VENV              where the venv lives                           (default: <repo>/.venv)
#   MMSOLA_CACHE_DIR  where the mmcv wheel is cached                 (default: ~/.cache/mmsola)
#   MAX_JOBS          parallel compile jobs for mmcv                 (default: nproc)
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Every path is made absolute once: later steps run in other folders.
VENV=$(realpath -m "${VENV:-$REPO_DIR/.venv}")
CACHE_DIR=$(realpath -m "${MMSOLA_CACHE_DIR:-$HOME/.cache/mmsola}")

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
# setuptools: torch 2.14 wants >=77; mmcv 2.1.0's setup.py imports pkg_resources, removed in 81.
SETUPTOOLS_SPEC='setuptools>=77,<81'

STEP=''
BUILD_DIR=''
step() {
    STEP=$1
    printf '\n[setup %s] %s\n' "$(date +%H:%M:%S)" "$1"
}
on_exit() {
    local rc=$?
    [ -n "$BUILD_DIR" ] && rm -rf "$BUILD_DIR"
    if [ $rc -ne 0 ]; then
        printf '\n[setup] FAILED at step: %s (exit %d). See the output above.\n' "$STEP" "$rc" >&2
    fi
}
trap on_exit EXIT

step "virtual environment ($VENV)"
PY="$VENV/bin/python"
if [ -x "$PY" ] && ! "$PY" -m pip --version >/dev/null 2>&1; then
    echo "$VENV has an interpreter but no working pip (a half-created venv): recreating it"
    rm -rf "$VENV"
fi
if [ ! -x "$PY" ]; then
    BASE_PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
    "$BASE_PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 9), "Python >= 3.9 required"'
    "$BASE_PYTHON" -m venv "$VENV"
fi
PIP=("$PY" -m pip install --disable-pip-version-check --no-input)
"$PY" -c 'import sys; print("python", sys.version.split()[0], "at", sys.executable)'

# Prints the requirements (PEP 508 strings) among the arguments that the venv does not satisfy.
unmet() {
    "$PY" - "$@" <<'PYEOF'
import sys
from importlib import metadata
from packaging.requirements import Requirement
for spec in sys.argv[1:]:
    req = Requirement(spec)
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        print(spec)
        continue
    if not req.specifier.contains(version.split('+')[0], prereleases=True):
        print(spec)
PYEOF
}
# packaging is needed by unmet() itself; a fresh venv's pip vendors it but does not expose it.
"$PY" -c 'import packaging' 2>/dev/null || "${PIP[@]}" -q packaging

step "torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
if [ -n "$(unmet "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION")" ]; then
    "${PIP[@]}" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
else
    echo "already installed"
fi

step "build tools ($SETUPTOOLS_SPEC, wheel, ninja)"
BUILD_TOOLS=("$SETUPTOOLS_SPEC" wheel ninja)
if [ -n "$(unmet "${BUILD_TOOLS[@]}")" ]; then
    "${PIP[@]}" -q "${BUILD_TOOLS[@]}"
else
    echo "already installed"
fi

step "mmcv==$MMCV_VERSION with compiled ops"
if [ -z "$(unmet "mmcv==$MMCV_VERSION")" ] && "$PY" -c 'import mmcv.ops' >/dev/null 2>&1; then
    echo "already installed"
else
    # mmcv's setup.py compiles CUDA ops when torch sees a GPU or FORCE_CUDA=1.
    KEY=$("$PY" - "$MMCV_VERSION" <<'PYEOF'
import os, platform, sys
import torch
ops = 'cuda' if torch.cuda.is_available() or os.getenv('FORCE_CUDA') == '1' else 'cpu'
print(f'mmcv-{sys.argv[1]}-{ops}ops-torch{torch.__version__}'
      f'-cp{sys.version_info[0]}{sys.version_info[1]}-{platform.machine()}')
PYEOF
)
    WHEEL_DIR="$CACHE_DIR/wheels/$KEY"
    WHEEL=$(ls "$WHEEL_DIR"/mmcv-*.whl 2>/dev/null | head -n 1 || true)
    if [ -z "$WHEEL" ]; then
        echo "no cached wheel in $WHEEL_DIR: building from the sdist (about 15 min on 2 cores)"
        BUILD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mmsola-mmcv-build.XXXXXX")
        "$PY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
            --no-build-isolation "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
        tar -xzf "$BUILD_DIR/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD_DIR"
        SRC="$BUILD_DIR/mmcv-$MMCV_VERSION"
        # torch 2.14's C++ headers need C++20; mmcv 2.1.0 asks for C++17.
        sed -i 's/-std=c++17/-std=c++20/g; s/std=c++14/std=c++20/g' "$SRC/setup.py"
        grep -q 'c++20' "$SRC/setup.py" || { echo "could not raise mmcv's C++ standard in setup.py" >&2; exit 1; }
        (cd "$SRC" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
            "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps \
            -w "$BUILD_DIR/dist" .)
        BUILT=$(ls "$BUILD_DIR"/dist/mmcv-*.whl)
        # Copy under a name of this build's own, then rename: the rename is atomic, so neither an
        # interrupted build nor a second build running at the same time leaves a partial wheel.
        mkdir -p "$WHEEL_DIR"
        PARTIAL=$(mktemp "$WHEEL_DIR/.partial.XXXXXX")
        cp "$BUILT" "$PARTIAL"
        chmod 644 "$PARTIAL"
        mv "$PARTIAL" "$WHEEL_DIR/$(basename "$BUILT")"
        WHEEL="$WHEEL_DIR/$(basename "$BUILT")"
    else
        echo "using cached wheel $WHEEL"
    fi
    # --force-reinstall: a broken install of the same version must really be replaced.
    "${PIP[@]}" --no-deps --force-reinstall "$WHEEL"
    # mmcv's own runtime requirements (the wheel was installed without them).
    MMCV_DEPS=(addict "mmengine>=0.3.0" numpy packaging Pillow pyyaml yapf opencv-python)
    [ -z "$(unmet "${MMCV_DEPS[@]}")" ] || "${PIP[@]}" -q "${MMCV_DEPS[@]}"
fi

step "OpenMMLab libraries and mmsola (editable, with the tests and deploy extras)"
# The stamp records what the editable install was made from; unchanged, nothing is reinstalled.
STAMP="$VENV/.mmsola-install"
STATE=$(cat "$REPO_DIR/setup.py" "$REPO_DIR/mmsola/version.py" "$REPO_DIR"/requirements/*.txt \
    | sha256sum | cut -d' ' -f1)
STATE="$STATE $REPO_DIR"
mapfile -t REQUIREMENTS < <(sed 's/#.*//' "$REPO_DIR"/requirements/{runtime,tests,deploy}.txt \
    | awk 'NF')
if [ "$(cat "$STAMP" 2>/dev/null)" = "$STATE" ] && [ -z "$(unmet "${REQUIREMENTS[@]}")" ] && \
   (cd / && "$PY" -c "import mmsola, sys; sys.exit(not mmsola.__file__.startswith('$REPO_DIR/'))"); then
    echo "already installed"
else
    # No build isolation: setuptools is already in the venv, so no index is needed for mmsola.
    "${PIP[@]}" -q --no-build-isolation -e "$REPO_DIR[tests,deploy]"
    echo "$STATE" > "$STAMP"
fi

step "check"
(cd / && "$PY" - <<'PYEOF'
import mmcv, mmcv.ops, mmdet, mmengine, mmpretrain, mmseg, onnxruntime, torch, torchvision
import mmsola
for mod in (torch, torchvision, mmengine, mmcv, mmdet, mmseg, mmpretrain, onnxruntime, mmsola):
    print(f'{mod.__name__:12s} {mod.__version__}')
PYEOF
)
STEP=''
echo "[setup] done: activate with 'source $VENV/bin/activate'"
