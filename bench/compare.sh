#!/usr/bin/env bash
# skein raft vs etcd (and redis as a one-node ceiling), side by side.
#
# Starts a 3-node skein raft cluster and a 3-member etcd cluster on
# loopback, both with fsync on and their data in one directory on the same
# disk, runs the same put/get workloads (`skein bench`, same keys, values and
# clients) against each in turn, and prints one table with the ratio
# skein/etcd. Installs etcd (Debian's etcd-server) and redis with apt if
# missing and it may (root); stops every process it started, even on Ctrl-C.
#
#   bench/compare.sh                 # ~5 minutes on 2 cores
#   DURATION=5 bench/compare.sh      # seconds per run (default 10)
#   KEEP=1 bench/compare.sh          # keep the data and logs (path printed)
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
VALUE_BYTES=${VALUE_BYTES:-256}
KEY_SPACE=${KEY_SPACE:-10000}
# Ports: skein at offset 20000 (API 24001-24003), etcd 22379/22479/22579, redis 26379.
SKEIN_OFFSET=20000
ETCD_PORTS=(22379 22479 22579)
REDIS_PORT=26379

say() { printf '\n== %s\n' "$*" >&2; }

need() {
  local command=$1 package=$2
  command -v "$command" >/dev/null && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing $package (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
  fi
  command -v "$command" >/dev/null || { echo "compare.sh: needs $command (Debian package $package)" >&2; return 1; }
}

need etcd etcd-server
need python3 python3
HAVE_REDIS=1
need redis-server redis-server || HAVE_REDIS=0

say "building skein (release)"
cargo build --release -q -p skein-cli
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
SKEIN="$TARGET_DIR/release/skein"

WORK=$(mktemp -d "${TARGET_DIR}/compare.XXXXXX")
PIDS=()
cleanup() {
  set +e
  "$SKEIN" cluster down --dir "$WORK/skein" >/dev/null 2>&1
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ "${KEEP:-0}" = 1 ]; then echo "data and logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting skein raft, 3 nodes (fsync on), in $WORK/skein"
"$SKEIN" cluster up --service raft --nodes 3 --detach --fresh --dir "$WORK/skein" --port-offset "$SKEIN_OFFSET" >/dev/null
SKEIN_APIS="http://127.0.0.1:$((4001 + SKEIN_OFFSET)),http://127.0.0.1:$((4002 + SKEIN_OFFSET)),http://127.0.0.1:$((4003 + SKEIN_OFFSET))"

say "starting etcd $(etcd --version | head -1 | awk '{print $3}'), 3 members (fsync on), in $WORK/etcd"
CLUSTER=""
for i in 0 1 2; do CLUSTER+="e$i=http://127.0.0.1:$((ETCD_PORTS[i] + 1)),"; done
CLUSTER=${CLUSTER%,}
ETCD_APIS=""
for i in 0 1 2; do
  port=${ETCD_PORTS[i]}
  mkdir -p "$WORK/etcd"
  etcd --name "e$i" --data-dir "$WORK/etcd/e$i" \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$((port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
    --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token skein-compare \
    >"$WORK/etcd/e$i.log" 2>&1 &
  PIDS+=($!)
  ETCD_APIS+="http://127.0.0.1:$port,"
done
ETCD_APIS=${ETCD_APIS%,}

if [ "$HAVE_REDIS" = 1 ]; then
  say "starting redis $(redis-server --version | awk '{print $3}' | tr -d v=), appendfsync always"
  mkdir -p "$WORK/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
    --appendfsync always --save '' >"$WORK/redis/redis.log" 2>&1 &
  PIDS+=($!)
fi

# etcd elects a leader within a few seconds; bench's leader lookup retries are ours.
for _ in $(seq 1 50); do
  curl -sf -X POST "http://127.0.0.1:${ETCD_PORTS[0]}/v3/maintenance/status" -d '{}' | grep -q '"leader"' && break
  sleep 0.2
done

WORKLOADS=("put 1" "put 16" "put 256" "get 16" "get 256")
run() { # system op clients apis → JSON report file
  local system=$1 op=$2 clients=$3 apis=$4 out="$WORK/$1-$2-$3.json"
  echo "  $system $op, $clients clients" >&2
  "$SKEIN" bench --target "$system" --api "$apis" --op "$op" --clients "$clients" \
    --duration "$DURATION" --requests 10000000 --warmup 1 --key-space "$KEY_SPACE" \
    --value-bytes "$VALUE_BYTES" --json "$out" >/dev/null 2>"$out.err" || echo "  (failed: $(tail -1 "$out.err"))" >&2
  echo "$out"
}

say "running ${#WORKLOADS[@]} workloads × each system, ${DURATION} s each"
for w in "${WORKLOADS[@]}"; do
  set -- $w
  run skein "$1" "$2" "$SKEIN_APIS" >/dev/null
  run etcd "$1" "$2" "$ETCD_APIS" >/dev/null
  [ "$HAVE_REDIS" = 1 ] && run redis "$1" "$2" "127.0.0.1:$REDIS_PORT" >/dev/null
done

say "results (3 nodes each, loopback, fsync on; $VALUE_BYTES-byte values, $KEY_SPACE keys; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
python3 - "$WORK" "$HAVE_REDIS" "${WORKLOADS[@]}" <<'PY'
import json, os, sys
work, have_redis, workloads = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
def load(system, op, clients):
    try:
        with open(os.path.join(work, f"{system}-{op}-{clients}.json")) as f:
            r = json.load(f)
        return r["throughput_ops_per_sec"], r["latency_us"]["p50"] / 1000, r["latency_us"]["p99"] / 1000, r["errors_total"]
    except (OSError, KeyError, ValueError):
        return None
def cell(m):
    return "failed" if m is None else f"{m[0]:,.0f}/s p50 {m[1]:.2f} p99 {m[2]:.2f} ms" + (f" ({m[3]} err)" if m[3] else "")
head = ["workload", "skein raft", "etcd 3.4", "skein/etcd ops", "skein/etcd p99"] + (["redis (1 node)"] if have_redis else [])
rows = []
for w in workloads:
    op, clients = w.split()
    s, e = load("skein", op, clients), load("etcd", op, clients)
    ratio = f"{s[0] / e[0]:.2f}×" if s and e and e[0] else "–"
    p99 = f"{s[2] / e[2]:.2f}×" if s and e and e[2] else "–"
    row = [f"{op}, {clients} clients", cell(s), cell(e), ratio, p99]
    if have_redis:
        row.append(cell(load("redis", op, clients)))
    rows.append(row)
print("| " + " | ".join(head) + " |")
print("|" + "|".join("---" for _ in head) + "|")
for row in rows:
    print("| " + " | ".join(row) + " |")
PY
