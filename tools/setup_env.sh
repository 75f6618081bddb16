#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment on a CPU machine.
#
#   bash tools/setup_env.sh            # -> .venv with the whole stack
#
# Idempotent: when .venv exists and was built from the current requirements
# files (hash stamp), it returns at once. The mmcv wheel, which must be
# compiled from source with its ops (~6 min on 2 cores), is cached outside the
# repository in $DOS_WHEEL_CACHE (default ~/.cache/dos-openmmlab/wheels) so
# that fresh clones and CI reuse it.
#
# Environment knobs:
#   PYTHON           interpreter to build the venv with (default: python3.11 or python3)
#   DOS_VENV         venv location (default: <repo>/.venv)
#   DOS_WHEEL_CACHE  where the compiled mmcv wheel is kept
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DOS_VENV:-$ROOT/.venv}"
WHEELS="${DOS_WHEEL_CACHE:-$HOME/.cache/dos-openmmlab/wheels}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
REQ="$ROOT/requirements"
CONSTRAINTS="$REQ/constraints.txt"

stamp_of() {
    cat "$REQ"/*.txt "$ROOT/tools/setup_env.sh" | sha256sum | cut -c1-16
}
STAMP="$(stamp_of)"
if [[ -f "$VENV/.dos-stamp" && "$(cat "$VENV/.dos-stamp")" == "$STAMP" ]]; then
    exit 0
fi

t0=$SECONDS
log() { printf '[setup_env %4ds] %s\n' "$((SECONDS - t0))" "$*"; }

log "creating venv $VENV with $PY"
"$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade "pip>=24"
log "installing build requirements (torch 2.13.0 CPU, setuptools<81)"
"${PIP[@]}" install -q -c "$CONSTRAINTS" -r "$REQ/build.txt"

mkdir -p "$WHEELS"
if ! ls "$WHEELS"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    log "compiling mmcv 2.1.0 with ops (first install only, ~6 min on 2 cores)"
    # mmcv's setup.py imports torch, mmengine-free build deps and pkg_resources.
    "${PIP[@]}" install -q -c "$CONSTRAINTS" addict mmengine==0.10.7 opencv-python pyyaml yapf
    tmp="$(mktemp -d)"
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" CFLAGS="-g0" CXXFLAGS="-g0" \
        "${PIP[@]}" wheel -q --no-build-isolation --no-deps --no-binary mmcv \
        -c "$CONSTRAINTS" -w "$tmp" mmcv==2.1.0
    mv "$tmp"/mmcv-2.1.0-*.whl "$WHEELS"/
    rm -rf "$tmp"
else
    log "using cached mmcv wheel from $WHEELS"
fi

log "installing runtime, OpenMMLab stack and test requirements"
"${PIP[@]}" install -q -c "$CONSTRAINTS" --find-links "$WHEELS" \
    -r "$REQ/runtime.txt" -r "$REQ/tests.txt" \
    mmengine==0.10.7 mmcv==2.1.0 mmdet==3.3.0
# mmdet3d's Requires-Dist pulls open3d (900 MB, local visualizer only).
"${PIP[@]}" install -q --no-deps mmdet3d==1.4.0
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT" --config-settings editable_mode=compat

"$VENV/bin/python" - <<'PY'
import mmcv, mmdet, mmdet3d, mmengine, spconv, torch
from mmcv.ops import nms  # proves the compiled ops
print(f'torch {torch.__version__}, mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__} (ops), mmdet {mmdet.__version__}, '
      f'mmdet3d {mmdet3d.__version__}, spconv {spconv.__version__}')
PY
echo "$STAMP" > "$VENV/.dos-stamp"
log "environment ready in $VENV"
