#!/usr/bin/env bash
# Time-boxed GPU design session.  Run from the repo root with $OUT set:
#   OUT=/path/to/out bash models/design/gpu_session.sh
# Optional env: TOTAL_SECONDS (default 500 = 8m20s), SMOKE=1 (CPU dry run),
#   JOBS=name1,name2 (subset), MAX_EPOCHS, PYTHON (default python3),
#   DATA_DIR (npy dir) / CARRY_DIR (default .data/carry).
set -u
: "${OUT:?set OUT}"
export SESSION_T0=$(date +%s.%N)
PY=${PYTHON:-python3}
mkdir -p "$OUT"
{
  echo "== $(date -u) host=$(hostname)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
  $PY -c 'import torch,numpy,onnx,onnxruntime,PIL;print("torch",torch.__version__,"cuda",torch.cuda.is_available(),"onnx",onnx.__version__,"ort",onnxruntime.__version__,"pillow",PIL.__version__)'
} 2>&1 | tee "$OUT/env.txt"
# keep CPU threads per worker low: ~10 workers share 16 cores
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
$PY -u -m models.design session 2>&1 | tee "$OUT/console.log"
rc=${PIPESTATUS[0]}
ls -la "$OUT"
exit $rc
