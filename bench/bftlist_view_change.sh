#!/usr/bin/env bash
# Convergence of bftlist after an UNRESPONSIVE primary (issue 4): boots an
# N-node cluster, lets one client append, turns the primary of view 0
# (node 1) UNRESPONSIVE and prints how long until every other replica
# serves in a new view, and until an append completes again; and the
# original's figure (BFTLIST.md §7, 1.57 s locally at n = 6): from each
# replica's view-change demand to its serving in the new view, as each
# replica's status reports it (`last_view_change_ms`), the slowest of the
# Q1 = n - f fastest.
#
#   bench/bftlist_view_change.sh [NODES] [PORT_OFFSET]     # default 6 25000
#
# Needs curl and jq, and `skein` built (cargo build --release).
set -euo pipefail
nodes=${1:-6}
offset=${2:-25000}
skein=${SKEIN:-target/release/skein}
dir=$(mktemp -d /tmp/skein-vc.XXXXXX)
api() { echo "http://127.0.0.1:$((4000 + $1 + offset))"; }
now_ms() { date +%s%3N; }

cleanup() { "$skein" cluster down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
"$skein" cluster up --service bftlist --nodes "$nodes" --detach --fresh --no-dashboard \
  --dir "$dir" --port-offset "$offset" -- --allow-fault-injection >/dev/null

serving_view() { # node → view number when it serves, else -
  curl -s --max-time 1 "$(api "$1")/api/v1/bft/status" |
    jq -r 'if .allow_service and .view != null then .view else "-" end' 2>/dev/null || echo -
}
all_serve() { # view predicate over nodes 2..N
  for id in $(seq 2 "$nodes"); do
    v=$(serving_view "$id")
    [[ $v != - ]] && eval "$1" || return 1
  done
}
append() { "$skein" list --dir "$dir" --client 1 append "$1" >/dev/null 2>&1; }

until all_serve '[[ $v == 0 ]]'; do sleep 0.1; done
for i in 1 2 3; do append "$i"; done

start=$(now_ms)
curl -s -X PUT "$(api 1)/api/v1/bft/byzantine" -H 'content-type: application/json' \
  -d '{"behaviour":"unresponsive"}' >/dev/null
until all_serve '[[ $v != 0 ]]'; do
  sleep 0.02
  (($(now_ms) - start < 60000)) || { echo "n=$nodes: no new view within 60 s"; exit 1; }
done
view_ms=$(($(now_ms) - start))
append 100
append_ms=$(($(now_ms) - start))
f=$(curl -s --max-time 1 "$(api 2)/api/v1/bft/status" | jq -r '.f // 1')
q1=$((nodes - f))
demand_ms=$(for id in $(seq 2 "$nodes"); do
  curl -s --max-time 1 "$(api "$id")/api/v1/bft/status" | jq -r '.last_view_change_ms // empty'
done | sort -n | sed -n "$((q1 < nodes - 1 ? q1 : nodes - 1))p")
echo "n=$nodes: all other replicas serve a new view ${view_ms} ms after the primary went silent; an append completed at ${append_ms} ms; demand to new view ${demand_ms:-unknown} ms (slowest of the Q1 fastest)"
