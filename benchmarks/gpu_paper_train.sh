#!/usr/bin/env bash
# Device-machine wrapper of paper_train.py (one call): report the GPU, try CUDA MPS so the
# 14 training processes share the GPU concurrently (fall back to time-slicing if MPS does not
# come up), then train everything and pack the weights into $OUT.
set -u
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, torch_geometric; print('torch', torch.__version__, torch.cuda.is_available())"
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps_pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps_log
mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
if nvidia-cuda-mps-control -d && timeout 40 python3 -c "import torch; print('mps ok', torch.ones(4, device='cuda').sum().item())"; then
  echo "MPS on"
else
  echo quit | nvidia-cuda-mps-control 2>/dev/null
  unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
  echo "MPS off"
fi
PYTHONPATH=. python3 benchmarks/paper_train.py "$OUT" --device cuda --minutes "${MINUTES:-7.2}" --pack "$@"
ls -la "$OUT"
