#!/usr/bin/env bash
# The GPU record, in one run (run it on a machine with an NVIDIA GPU and CuPy):
#   1. the whole test suite on the GPU (the cupy backend joins every agreement test);
#   2. cupy-vs-numpy agreement at grid points A-D, shown on its own;
#   3. per-iteration times at A-D with N x 10 for fastkm-cupy, a plain PyTorch and
#      a plain CuPy baseline, with the floors (device copy bandwidth, SGEMM and
#      TF32 rates) measured in the same run.
# Writes benchmarks/results/gpu-<date>.{json,log} (or under $OUT when set, as on
# the device machine) and the test logs beside them. Runs from the source tree:
#   bash benchmarks/gpu_suite.sh            # everything
#   bash benchmarks/gpu_suite.sh --grid A,B # extra arguments go to the benchmark
# Step 3 is `python -m fastkm.bench --gpu`, i.e. `fastkm bench --gpu` (the same
# command and options: --grid, --backends, --peers, --scale, --iterations, ...;
# with --gpu the defaults are --backends cupy --peers torch,cupy-plain --scale 10).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
dest="${OUT:-benchmarks/results}"
stamp="gpu-$(date -u +%Y-%m-%d)"
mkdir -p "$dest"
status=0

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$dest/$stamp-device.log"
python3 -c "import fastkm; print(fastkm.available_backends()['cupy'])" | tee -a "$dest/$stamp-device.log"

echo "== 1. the whole test suite, GPU included"
python3 -m pytest -q -p no:cacheprovider -rs 2>&1 | tee "$dest/$stamp-tests.log" || status=1

echo "== 2. cupy vs numpy at the grid points"
python3 -m pytest -v -p no:cacheprovider tests/test_cupy_backend.py -k grid_point 2>&1 | tee "$dest/$stamp-agreement.log" || status=1

echo "== 3. per-iteration times, N x 10, with the floors"
python3 -m fastkm.bench --gpu --force --json "$dest/$stamp.json" "$@" 2>&1 | tee "$dest/$stamp.log" || status=1
exit $status
