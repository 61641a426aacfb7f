#!/bin/sh
# Builds every fuzz target once, then runs the given targets one after the
# other for SECONDS each (default 600), growing fuzz/corpus/TARGET from the
# committed seeds in fuzz/seeds/TARGET. Logs go to fuzz/logs/TARGET.log; the
# printed line per target holds its exec count (stat::number_of_executed_units).
# Usage: fuzz/run-all.sh [SECONDS] [TARGET...]   (SKIP_BUILD=1: use the last build)
set -u
cd "$(dirname "$0")"
seconds=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-"raft bftlist dht gossip wal config frames heartbeat"}
export RUSTC_BOOTSTRAP=1
flags="--sanitizer none --debug-assertions"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo fuzz build $flags || exit 1
fi
bin="${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release"
mkdir -p logs
for target in $targets; do
    mkdir -p "corpus/$target"
    "$bin/$target" "corpus/$target" "seeds/$target" \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        > "logs/$target.log" 2>&1
    echo "$target: exit $? $(grep -E 'stat::number_of_executed_units' "logs/$target.log")"
done
