#!/usr/bin/env bash
# Per-iteration time of this tree against an earlier commit, on the same machine, in one run:
#   benchmarks/compare_refs.sh REF [ROUNDS] [fastkm bench options...]
# e.g. benchmarks/compare_refs.sh 9ab174a 2 --grid A,B
# The two versions take turns (REF, this tree, REF, this tree, ...), ROUNDS times (default 2),
# each a `python -m fastkm.bench --backends numba --peers ''` run (options after ROUNDS are
# added); the JSON of every run and a summary (fastest of the rounds per point and version,
# the ratio, the floors) land in benchmarks/results/compare-<REF>-<date>.{json,log}.
# The machines are noisy: only the ratios of one run mean anything.
set -euo pipefail
cd "$(dirname "$0")/.."
ref="${1:?usage: compare_refs.sh REF [ROUNDS] [bench options]}"
rounds="${2:-2}"
shift $(( $# >= 2 ? 2 : 1 ))
work="$(mktemp -d)"
trap 'git worktree remove --force "$work/ref" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/ref" "$ref" >/dev/null 2>&1
out="benchmarks/results/compare-${ref}-$(date -u +%Y-%m-%d)"
for round in $(seq 1 "$rounds"); do
    for version in ref tree; do
        root="$PWD"; [ "$version" = ref ] && root="$work/ref"
        echo "== round $round: $version ($root)"
        (cd "$work" && PYTHONPATH="$root" python3 -m fastkm.bench --backends numba --peers "" \
            --json "$work/$version-$round.json" "$@")
    done
done 2>&1 | tee "$out.log"
python3 - "$work" "$rounds" "$ref" "$out.json" <<'EOF' | tee -a "$out.log"
import json, sys
work, rounds, ref, target = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = {version: [json.load(open(f"{work}/{version}-{r}.json")) for r in range(1, rounds + 1)] for version in ("ref", "tree")}
best = {version: {} for version in runs}
for version, records in runs.items():
    for record in records:
        for row in record["grid"]:
            point = row["point"]
            if row["ms_per_iteration"] < best[version].get(point, {"ms_per_iteration": float("inf")})["ms_per_iteration"]:
                best[version][point] = row
print(f"\nfastest of {rounds} rounds, ms per iteration (numba, float32)")
print(f"point  {ref:>10}  {'this tree':>10}  ratio   floor   rechecked (this tree, worst iteration)")
for point in sorted(best["tree"]):
    old, new = best["ref"][point], best["tree"][point]
    shares = new.get("recheck_share_per_iteration") or [0.0]
    print(f"{point:5}  {old['ms_per_iteration']:10.2f}  {new['ms_per_iteration']:10.2f}  {new['ms_per_iteration'] / old['ms_per_iteration']:5.2f}"
          f"  {new['floor']['floor_ms']:6.2f}  {100 * max(shares):.3g}%")
json.dump({"ref": ref, "rounds": rounds, "runs": runs}, open(target, "w"), indent=1)
print(f"wrote {target}")
EOF
