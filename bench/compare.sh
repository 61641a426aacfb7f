#!/usr/bin/env bash
# Side by side: skein's raft service and etcd 3.4, both 3 members on
# loopback with fsync on, under the same `skein bench` workload (put and get
# at several client counts; same keys, values and client), and one redis
# server as a single-node ceiling (append-only file, `appendfsync always`:
# durable like the others, but no replication). Prints one table.
#
#   bench/compare.sh                     # clients 1 16 256, 10 s each
#   CLIENTS="1 64" SECONDS_EACH=5 bench/compare.sh
#
# Needs: a release `skein` (built if missing), etcd + etcdctl and
# redis-server (Debian's etcd-server / etcd-client / redis-server, installed
# with apt-get if missing, which needs root). REDIS=0 leaves redis out.
# Ports: etcd clients 23791-23793, peers 23801-23803; redis 23790; skein
# offset 20000 (24001-24003 and so on). Everything started here is stopped
# on exit, and its data deleted.
set -euo pipefail

CLIENTS=${CLIENTS:-"1 16 256"}
SECONDS_EACH=${SECONDS_EACH:-10}
OPS=${OPS:-"put get"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SKEIN=${SKEIN:-$TARGET_DIR/release/skein}
WORK=$(mktemp -d -t skein-compare.XXXXXX)
OFFSET=20000
REDIS=${REDIS:-1}
REDIS_PORT=23790

if [[ ! -x $SKEIN ]]; then
  echo "building skein (release)…" >&2
  (cd "$ROOT" && cargo build --release -p skein-cli --bin skein)
fi
if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
  echo "installing etcd (Debian: etcd-server, etcd-client)…" >&2
  sudo_=""; [[ $(id -u) -ne 0 ]] && sudo_="sudo"
  $sudo_ apt-get install -y etcd-server etcd-client >&2
fi

if [[ $REDIS == 1 ]] && ! command -v redis-server >/dev/null; then
  echo "installing redis (Debian: redis-server)…" >&2
  sudo_=""; [[ $(id -u) -ne 0 ]] && sudo_="sudo"
  $sudo_ apt-get install -y redis-server >&2
  # The package starts a system-wide server on 6379; this script runs its own.
  $sudo_ systemctl stop redis-server >/dev/null 2>&1 || $sudo_ service redis-server stop >/dev/null 2>&1 || true
fi

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
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
  PIDS+=($!)
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

# redis: one server, append-only file fsynced before each reply batch.
REDIS_API="redis://127.0.0.1:$REDIS_PORT"
if [[ $REDIS == 1 ]]; then
  mkdir -p "$WORK/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK/redis" --save "" \
    --appendonly yes --appendfsync always --daemonize no --protected-mode yes \
    >"$WORK/redis.log" 2>&1 &
  PIDS+=($!)
fi

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

cell() { # target op clients api -> "ops/s p50 p99 errors" or dashes
  if [[ $1 == redis && ( $REDIS != 1 || $2 == cas ) ]]; then echo "- - - -"; else run "$@"; fi
}
ratio() { python3 -c "import sys; a, b = sys.argv[1:]; print(f'{float(a)/float(b):.2f}x' if b not in ('-', '0') and a != '-' else '-')" "$1" "$2" 2>/dev/null || echo -; }

printf '%-4s %7s | %9s %7s %7s %5s | %9s %7s %7s %5s | %9s %7s %7s %5s | %10s %11s\n' \
  op clients "skein/s" "p50 ms" "p99 ms" err "etcd/s" "p50 ms" "p99 ms" err "redis/s" "p50 ms" "p99 ms" err "skein/etcd" "skein/redis"
for op in $OPS; do
  for c in $CLIENTS; do
    read -r s_ops s_p50 s_p99 s_err < <(cell skein "$op" "$c" "$SKEIN_API")
    read -r e_ops e_p50 e_p99 e_err < <(cell etcd "$op" "$c" "$ETCD_API")
    read -r r_ops r_p50 r_p99 r_err < <(cell redis "$op" "$c" "$REDIS_API")
    printf '%-4s %7s | %9s %7s %7s %5s | %9s %7s %7s %5s | %9s %7s %7s %5s | %10s %11s\n' \
      "$op" "$c" "$s_ops" "$s_p50" "$s_p99" "$s_err" "$e_ops" "$e_p50" "$e_p99" "$e_err" \
      "$r_ops" "$r_p50" "$r_p99" "$r_err" "$(ratio "$s_ops" "$e_ops")" "$(ratio "$s_ops" "$r_ops")"
  done
done
echo "(skein raft and etcd: 3 members each on loopback, fsync on; redis: 1 server, appendfsync always;"
echo " same client: skein bench; $SECONDS_EACH s per cell after 1 s warmup; $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores)"
