#!/usr/bin/env bash
# The whole bftlist performance table of issue 4 in one run: for each
# cluster size and replication mode, append throughput and latency at
# C = 1/16/64 clients, the per-request time at request 200 (one client, mean of
# requests 191-200), and the convergence after the primary turns
# UNRESPONSIVE (bench/bftlist_view_change.sh). Every figure comes from a
# fresh cluster on loopback. Prints a markdown table and keeps the JSON
# reports in $OUT.
#
#   bench/bftlist_table.sh                          # n = 6 9 12, tick and event
#   NODES="6" MODES="event" SECONDS_EACH=5 bench/bftlist_table.sh
#
# Needs a release `skein` (built if missing), curl and jq. Ports: the
# cluster launcher's, shifted by OFFSET (default 25000; APIs at 29001..).
# The load average before each run is printed per row: on a small machine
# the figures are CPU-bound.
set -euo pipefail

NODES=${NODES:-"6 9 12"}
MODES=${MODES:-"tick event"}
CLIENTS=${CLIENTS:-"1 16 64"}
SECONDS_EACH=${SECONDS_EACH:-10}
OFFSET=${OFFSET:-25000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SKEIN=${SKEIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/skein}
OUT=${OUT:-$(mktemp -d -t skein-bft-table.XXXXXX)}

for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 2; }
done
if [[ ! -x $SKEIN ]]; then
  echo "building skein (release)…" >&2
  (cd "$ROOT" && cargo build --release -p skein-cli --bin skein)
fi

load() { cut -d' ' -f1 /proc/loadavg; }
ms() { awk -v us="$1" 'BEGIN { printf (us >= 1e6 ? "%.2f s" : "%.0f ms"), (us >= 1e6 ? us / 1e6 : us / 1e3) }'; }

# bench N MODE CLIENTS REQUESTS DURATION JSON
bench() {
  local event=false
  [[ $2 == event ]] && event=true
  SKEIN_BFTLIST_EVENT_DRIVEN_REPLICATION=$event "$SKEIN" bench --service bftlist \
    --spawn "$1" --port-offset "$OFFSET" --clients "$3" --requests "$4" \
    --duration "$5" --warmup 2 --json "$6" >/dev/null 2>"$6.log" ||
    { echo "bench failed: n=$1 $2 clients=$3 (see $6.log)" >&2; return 1; }
}

cell() { # JSON → "ops/s, p50 / p99"
  jq -r '"\(.throughput_ops_per_sec * 10 | round / 10), \(.latency_us.p50) \(.latency_us.p99)"' "$1" |
    while read -r ops p50 p99; do echo "$ops $(ms "$p50") / $(ms "$p99")"; done
}

echo "| n, mode | $(for c in $CLIENTS; do printf 'C = %s: ops/s, p50 / p99 | ' "$c"; done)request 191–200 | new view after silent primary | load |"
echo "|---|$(for _ in $CLIENTS; do printf -- '---:|'; done)---:|---|---:|"
for n in $NODES; do
  for mode in $MODES; do
    row="| n = $n, $mode |"
    loads=$(load)
    for c in $CLIENTS; do
      json="$OUT/n$n-$mode-c$c.json"
      echo "n=$n $mode clients=$c…" >&2
      if bench "$n" "$mode" "$c" 1000000 "$SECONDS_EACH" "$json"; then
        row+=" $(cell "$json") |"
      else
        row+=" failed |"
      fi
      loads+="/$(load)"
    done
    json="$OUT/n$n-$mode-req200.json"
    echo "n=$n $mode per-request time at request 200…" >&2
    if bench "$n" "$mode" 1 300 120 "$json"; then
      row+=" $(ms "$(jq '.latency_mean_us_by_block_of_10[19] // 0' "$json")") |"
    else
      row+=" failed |"
    fi
    echo "n=$n $mode view change…" >&2
    event=false
    [[ $mode == event ]] && event=true
    vc=$(SKEIN="$SKEIN" SKEIN_BFTLIST_EVENT_DRIVEN_REPLICATION=$event \
      "$ROOT/bench/bftlist_view_change.sh" "$n" "$OFFSET" 2>&1 | tail -1 || true)
    vc=$(sed -n 's/.*serve a new view \([0-9]*\) ms.*append completed at \([0-9]*\) ms; demand to new view \([0-9a-z]*\) ms.*/\1 ms (append at \2 ms; demand to view \3 ms)/p' <<<"$vc")
    row+=" ${vc:-failed} | $loads |"
    echo "$row"
  done
done
echo "JSON reports in $OUT" >&2
