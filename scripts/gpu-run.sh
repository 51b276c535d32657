#!/usr/bin/env bash
# Issue 23's measured GPU run, in one call on a lent GPU machine (Python 3.12 with torch and CUDA, no
# network). Before it: `bash ../shared/gpu/wheels.sh .whl` here, a few 720p15 H.264 test bed clips
# (<name>.264) in .gpuclips, and every part but the last copied into /tmp/whl there by earlier calls;
# this call carries the last part and .gpuclips. About 6 minutes. The benchmark's cameras decode
# on NVDEC where a CUDA device opens (`stream.decode=auto`); its NVDEC column counts the seats that did.
#
#   OUT=/somewhere bash scripts/gpu-run.sh
set -uo pipefail
out=${OUT:-outputs/gpu-run}
mkdir -p "$out" /tmp/whl
cp .whl/part*/*.whl /tmp/whl/ 2>/dev/null
last=$(ls -d .whl/part* | sort -V | tail -1)
bash "$last/install.sh" || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, ray, av, hydra, ultralytics; print("torch", torch.__version__, torch.cuda.is_available(), "ray", ray.__version__, "av", av.__version__, "ultralytics", ultralytics.__version__)'
# NVDEC: does a CUDA device open here, are its pictures software's, and the cost of each a frame
timeout 60 python3 scripts/nvdec_check.py $(ls .gpuclips/*.264 | head -2) || echo "NVDEC CHECK FAILED (exit $?)"
bench=(python3 -m mjray.bench.gpu --clips .gpuclips --seconds 15)
# the original design's case: 4 cameras at 720p15, YOLOv8l, every frame, batched and a pool per camera
timeout 150 "${bench[@]}" --models yolov8l.yaml --modes batched,pools --steps 4 --out "$out/l"
# many cameras: YOLOv8n, batched, until a step cannot keep up
timeout 210 "${bench[@]}" --models yolov8n.yaml --modes batched --steps 16,32,64 --out "$out/n"
for log in "$out"/*/runs/*/log.txt; do
  grep -q "mjray summary" "$log" || { echo "== $log"; tail -n 8 "$log"; }
done
