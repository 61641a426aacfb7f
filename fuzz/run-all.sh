#!/bin/sh
# Runs every fuzz target one after the other for SECONDS each (default 600),
# growing fuzz/corpus/TARGET from the committed seeds in fuzz/seeds/TARGET.
# Logs go to fuzz/logs/TARGET.log; the last lines of each hold the exec count
# (stat::number_of_executed_units). Usage: fuzz/run-all.sh [SECONDS] [TARGET...]
set -u
cd "$(dirname "$0")"
seconds=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-"raft bftlist dht gossip wal config frames heartbeat"}
export RUSTC_BOOTSTRAP=1
mkdir -p logs
for target in $targets; do
    mkdir -p "corpus/$target"
    cargo fuzz run --sanitizer none --debug-assertions "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        > "logs/$target.log" 2>&1
    echo "$target: exit $? $(grep -E 'stat::number_of_executed_units' "logs/$target.log")"
done
