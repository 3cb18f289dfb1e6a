#!/bin/bash
#   The agent's GPU probe on a machine with a real NVIDIA GPU and nvidia-smi.
#   Run from the repository root: bash tests/device/run.sh [OUT_DIR]
#   Needs gcc and nvidia-smi only (no allocator, no PostgreSQL). When
#   python3 has torch, it also probes while the GPU runs a matrix-product load.
set -u
out=${1:-/tmp/lablink-device}
mkdir -p "$out"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
exec > >(tee "$out/device-check.log") 2>&1

echo "== machine"
nvidia-smi -L
nvidia-smi --query-gpu=name,driver_version,pstate,temperature.gpu,memory.total \
    --format=csv,noheader
uname -r
echo "== build the probe check (agent/probe.c, spawn.c, stop.c, runtime/clock.c as shipped)"
gcc -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -I. agent/probe.c agent/spawn.c agent/stop.c runtime/clock.c \
    tests/device/gpu_probe_check.c \
    -lpthread -o "$scratch/gpu_probe_check" || exit 1

echo "== idle GPU"
"$scratch/gpu_probe_check" "$scratch"; rc_idle=$?

rc_load=0
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    echo "== GPU under load (bf16 matrix products for 20 s)"
    python3 - <<'PY' &
import time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
end = time.time() + 20
while time.time() < end:
    for _ in range(20):
        a @ a
    torch.cuda.synchronize()
PY
    load=$!
    sleep 5
    nvidia-smi --query-gpu=utilization.gpu,power.draw,temperature.gpu --format=csv,noheader
    "$scratch/gpu_probe_check" "$scratch"; rc_load=$?
    wait $load
else
    echo "== no torch with CUDA here: load case skipped"
fi
echo "rc_idle=$rc_idle rc_load=$rc_load"
[ $rc_idle -eq 0 ] && [ $rc_load -eq 0 ]
