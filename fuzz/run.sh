#!/usr/bin/env bash
# Runs every fuzz target under libFuzzer + AddressSanitizer for a time budget each and prints the
# executions. Usage: fuzz/run.sh [seconds per target, default 120] [target ...]
# Needs cargo-fuzz (`cargo install --locked cargo-fuzz --version 0.13.2`) and, on a stable
# toolchain, RUSTC_BOOTSTRAP=1 for `-Zsanitizer` (set below). New inputs go to a scratch corpus
# (ROUTEPLANE_FUZZ_CORPUS, default /var/cache/routeplane-ci/fuzz-corpus); the seeds in
# fuzz/corpus/ are only read. Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-120}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(cni_config provider_id ec2_query kube_request kube_patch gce_request)
export RUSTC_BOOTSTRAP=1
# The cached cargo-fuzz (.ci/run and docs/reliability.md install it there).
export PATH="/var/cache/routeplane-ci/tools/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/routeplane-ci/fuzz-target}"
scratch="${ROUTEPLANE_FUZZ_CORPUS:-/var/cache/routeplane-ci/fuzz-corpus}"
for t in "${targets[@]}"; do cargo fuzz build "$t"; done
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "artifacts/$t"
  log="$scratch/$t.log"
  status=0
  cargo fuzz run "$t" "$scratch/$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || status=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
  echo "$t: $runs executions in ${secs}s, exit $status, corpus $(ls "$scratch/$t" | wc -l) inputs"
  [ "$status" -eq 0 ] || { tail -40 "$log"; exit "$status"; }
done
