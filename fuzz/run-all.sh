#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) one after the other at the lowest CPU
# priority, each with its final libFuzzer statistics in logs/<target>.log.
set -uo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
mkdir -p logs
for target in reply_framing show_status show_protocols show_route document; do
    start=$(date +%s)
    nice -n 19 cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" \
        -rss_limit_mb=2048 -print_final_stats=1 >"logs/$target.log" 2>&1
    echo "$target exit=$? seconds=$(( $(date +%s) - start ))" >>logs/summary.txt
done
