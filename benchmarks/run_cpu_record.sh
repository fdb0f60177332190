#!/usr/bin/env bash
# The CPU benchmark record: grid points A-D for every fastkm backend and the peers
# (scikit-learn, faiss-cpu) in one run, default fits, peak RSS and the Numba strategy
# sweep; JSON and log land in benchmarks/results/cpu-<date>.{json,log}.
# `python -m fastkm.bench` is the `fastkm bench` command: extra arguments are its
# options (`fastkm bench --help`), e.g. --grid A,B --scale 0.1 --peers sklearn.
# The log holds the printed tables; the JSON the whole record (machine, floors, rows).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e ".[bench]"
out="benchmarks/results/cpu-$(date -u +%Y-%m-%d)"
python3 -m fastkm.bench --full-fit --rss --sweep --force --json "$out.json" "$@" 2>&1 | tee "$out.log"
