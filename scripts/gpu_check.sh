#!/usr/bin/env bash
# The checks that need a CUDA GPU, in a few minutes: the CUDA tests (fp32, fp16/bf16 autocast
# against fp32, O(N) memory of the linear-attention core, one --amp training iteration), then
# the backbone benchmark on the GPU in fp32 and fp16.
#   bash scripts/gpu_check.sh            (after make install, on a machine with a GPU)
# Environment: VENV=.venv, OUT=work_dirs/gpu_check
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(realpath -m "${VENV:-.venv}")/bin/python
OUT=${OUT:-work_dirs/gpu_check}
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA GPU visible")'
"$PY" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))'
"$PY" -m pytest tests/test_cuda.py -q -p no:cacheprovider -rs
for dtype in fp32 fp16; do
    "$PY" tools/analysis_tools/benchmark.py --device cuda --dtype "$dtype" \
        --models sola-t sola-t-linear sola-t-stage swin-t convnext-t \
        --shapes 64x224x224 8x800x1280 1x2048x2048 --modes infer train \
        --warmup 3 --rounds 10 --reference swin-t --out-dir "$OUT/benchmark_$dtype"
done
echo "results: $OUT/benchmark_fp32/results.md $OUT/benchmark_fp16/results.md"
