#!/usr/bin/env bash
# Side by side: skein's raft service and etcd 3.4, both 3 members on
# loopback with fsync on, under the same `skein bench` workload (put and get
# at several client counts; same keys, values and client). Prints one table.
#
#   bench/compare.sh                     # clients 1 16 256, 10 s each
#   CLIENTS="1 64" SECONDS_EACH=5 bench/compare.sh
#
# Needs: a release `skein` (built if missing), and etcd + etcdctl (Debian's
# etcd-server / etcd-client, installed with apt-get if missing, which needs root).
# Ports: etcd clients 23791-23793, peers 23801-23803; skein offset 20000
# (24001-24003 and so on). Everything started here is stopped on exit.
set -euo pipefail

CLIENTS=${CLIENTS:-"1 16 256"}
SECONDS_EACH=${SECONDS_EACH:-10}
OPS=${OPS:-"put get"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SKEIN=${SKEIN:-$TARGET_DIR/release/skein}
WORK=$(mktemp -d -t skein-compare.XXXXXX)
OFFSET=20000

if [[ ! -x $SKEIN ]]; then
  echo "building skein (release)…" >&2
  (cd "$ROOT" && cargo build --release -p skein-cli --bin skein)
fi
if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
  echo "installing etcd (Debian: etcd-server, etcd-client)…" >&2
  sudo_=""; [[ $(id -u) -ne 0 ]] && sudo_="sudo"
  $sudo_ apt-get install -y etcd-server etcd-client >&2
fi

ETCD_PIDS=()
cleanup() {
  for pid in "${ETCD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$SKEIN" cluster down --dir "$WORK/skein" >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# etcd: 3 members, default durability (fsync of the WAL on every commit).
CLUSTER="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
for i in 1 2 3; do
  etcd --name "e$i" --data-dir "$WORK/etcd-$i" \
    --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
    --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
    --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token skein-compare \
    --log-level error >"$WORK/etcd-$i.log" 2>&1 &
  ETCD_PIDS+=($!)
done
ETCD_API="http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793"
for _ in $(seq 100); do
  ETCDCTL_API=3 etcdctl --endpoints "$ETCD_API" endpoint health >/dev/null 2>&1 && break
  sleep 0.2
done

# skein: 3 raft nodes, fsync on (always).
"$SKEIN" cluster up --service raft --nodes 3 --detach --fresh --dir "$WORK/skein" \
  --port-offset $OFFSET >/dev/null
SKEIN_API="http://127.0.0.1:$((4001 + OFFSET)),http://127.0.0.1:$((4002 + OFFSET)),http://127.0.0.1:$((4003 + OFFSET))"

run() { # target op clients -> "ops/s p50_ms p99_ms errors"
  local target=$1 op=$2 clients=$3 api=$4 json="$WORK/$1-$2-$3.json"
  "$SKEIN" bench --target "$target" --api "$api" --op "$op" --clients "$clients" \
    --duration "$SECONDS_EACH" --requests 10000000 --warmup 1 --key-space 1000 \
    --json "$json" >/dev/null 2>"$WORK/bench.err" || { echo "- - - failed"; return; }
  python3 - "$json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r.get("latency_us", {})
print(f'{r["throughput_ops_per_sec"]:.0f} {lat.get("p50", 0) / 1000:.2f} {lat.get("p99", 0) / 1000:.2f} {r["errors_total"]}')
PY
}

printf '%-4s %7s | %10s %8s %8s %6s | %10s %8s %8s %6s | %6s\n' \
  op clients "skein/s" "p50 ms" "p99 ms" errors "etcd/s" "p50 ms" "p99 ms" errors ratio
for op in $OPS; do
  for c in $CLIENTS; do
    read -r s_ops s_p50 s_p99 s_err < <(run skein "$op" "$c" "$SKEIN_API")
    read -r e_ops e_p50 e_p99 e_err < <(run etcd "$op" "$c" "$ETCD_API")
    ratio=$(python3 -c "print(f'{float(\"$s_ops\")/float(\"$e_ops\"):.2f}x' if '$e_ops' not in ('-','0') else '-')" 2>/dev/null || echo -)
    printf '%-4s %7s | %10s %8s %8s %6s | %10s %8s %8s %6s | %6s\n' \
      "$op" "$c" "$s_ops" "$s_p50" "$s_p99" "$s_err" "$e_ops" "$e_p50" "$e_p99" "$e_err" "$ratio"
  done
done
echo "(3 members each on loopback, fsync on; same client: skein bench; $SECONDS_EACH s per cell after 1 s warmup)"
