// The dashboard's pure logic: no DOM, no fetch, no clock. app.js feeds it
// what it polled; `node --test` runs logic.test.js against it (see
// crates/skein-node/tests/dashboard_js.rs), so every branch here is testable.
"use strict";

/** Every series and the event log keep at most this many points. */
const HISTORY_MAX = 300;

/** Prometheus text exposition → Map(name → [{labels, value}]). Malformed lines are skipped. */
function parsePrometheus(text) {
  const out = new Map();
  for (const raw of String(text).split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[4]);
    if (Number.isNaN(value)) continue;
    const labels = {};
    for (const pair of (m[3] || "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]] = pair[2];
    }
    if (!out.has(m[1])) out.set(m[1], []);
    out.get(m[1]).push({ labels, value });
  }
  return out;
}

/** Sum of a metric's samples whose labels match `where` (all given labels equal). */
function sumMetric(parsed, name, where = {}) {
  const samples = parsed.get(name);
  if (!samples) return null;
  let total = 0;
  for (const s of samples) {
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** Per-second rate of a counter between two samples; null when unknown or reset (a restart). */
function counterRate(previous, current, seconds) {
  if (previous == null || current == null || !(seconds > 0)) return null;
  if (current < previous) return null;
  return (current - previous) / seconds;
}

/** Appends to a bounded history, dropping the oldest points. */
function pushBounded(list, item, max = HISTORY_MAX) {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
  return list;
}

/**
 * Per-service knowledge, one entry per service: how to read the node table's
 * columns from `status.protocol`, and which extra endpoints its panel needs.
 * A new service adds one entry here and one panel renderer in app.js.
 */
const SERVICES = {
  raft: {
    extra: [],
    row(p) {
      return {
        role: lower(p.role),
        term: p.term,
        progress: `commit ${p.commit_index} · applied ${p.applied_index}`,
        leader: p.leader ?? null,
      };
    },
    throughput: { metric: "skein_raft_proposals_applied_total", label: "applied/s" },
  },
  bftlist: {
    extra: ["/api/v1/list"],
    row(p) {
      const view = p.view;
      const primary = p.primary ?? null;
      return {
        role: p.byzantine ? `byzantine (${p.byzantine})` : primary === p.self_id ? "primary" : "replica",
        term: view == null ? "—" : `view ${view} · phase ${p.phase}`,
        progress: `executed ${p.last_exec}`,
        leader: primary,
      };
    },
    throughput: { metric: "skein_bft_executed_total", label: "executed/s" },
  },
  heartbeat: {
    extra: [],
    row(p) {
      return { role: "member", term: `incarnation ${p.incarnation}`, progress: `seq ${p.seq}`, leader: null };
    },
    throughput: { metric: "skein_requests_total", label: "requests/s" },
  },
  dht: {
    extra: ["/api/v1/dht/routing", "/api/v1/dht/size"],
    row(p) {
      const ring = ringKey(p);
      return {
        role: ring == null ? p.state || "ring member" : `ring ${shortKey(ring)}`,
        term: p.state ?? "—",
        progress: keysOf(p),
        leader: null,
      };
    },
    throughput: { metric: "skein_requests_total", label: "requests/s" },
  },
  gossip: {
    extra: ["/api/v1/gossip/peers", "/api/v1/gossip/messages"],
    row(p) {
      const role = p.left ? "left" : p.joined === false ? "joining" : "member";
      const eager = Array.isArray(p.eager_peers) ? ` · eager [${p.eager_peers.join(",")}]` : "";
      return {
        role,
        term: p.incarnation != null ? `incarnation ${p.incarnation}` : "—",
        progress: p.delivered != null ? `delivered ${p.delivered}${eager}` : p.messages != null ? `messages ${count(p.messages)}` : "—",
        leader: null,
      };
    },
    throughput: { metric: "skein_requests_total", label: "requests/s" },
  },
};

/** The table row for any service; an unknown service shows its status keys generically. */
function describeNode(service, protocol, id) {
  const p = Object.assign({ self_id: id }, protocol || {});
  const known = SERVICES[service];
  if (known) {
    try {
      return known.row(p);
    } catch (_) {
      // A status of an unexpected shape (another version): fall through to the generic row.
    }
  }
  const keys = Object.keys(protocol || {}).slice(0, 3);
  return { role: service || "?", term: "—", progress: keys.map((k) => `${k}: ${brief(protocol[k])}`).join(" · ") || "—", leader: null };
}

/**
 * Whether the replicas' executed lists agree: every list must be a prefix
 * of the longest one. Returns {agree, longest, behind: [ids shorter], diverged: [ids]}.
 */
function listAgreement(listsById) {
  const entries = Object.entries(listsById).filter(([, l]) => Array.isArray(l));
  if (entries.length === 0) return { agree: true, longest: 0, behind: [], diverged: [] };
  const longest = entries.reduce((a, b) => (b[1].length > a[1].length ? b : a))[1];
  const behind = [];
  const diverged = [];
  for (const [id, list] of entries) {
    const prefix = list.every((x, i) => x === longest[i]);
    if (!prefix) diverged.push(Number(id));
    else if (list.length < longest.length) behind.push(Number(id));
  }
  return { agree: diverged.length === 0, longest: longest.length, behind, diverged };
}

/** What changed between two polls of the cluster, as event-log lines. */
function diffSnapshots(before, after) {
  const events = [];
  if (!before) return events;
  for (const [id, now] of Object.entries(after.nodes)) {
    const was = before.nodes[id];
    if (!was) continue;
    if (was.state !== now.state) events.push(`node ${id} is ${now.state} (was ${was.state})`);
  }
  if (before.leader !== after.leader && after.leader != null) {
    events.push(`${after.leaderWord || "leader"} is now node ${after.leader}` + (before.leader != null ? ` (was ${before.leader})` : ""));
  }
  if (before.leader != null && after.leader == null) events.push(`no ${after.leaderWord || "leader"}`);
  return events;
}

/** The leader/primary most up nodes name, or null. */
function majorityLeader(rows) {
  const votes = new Map();
  for (const r of rows) if (r.leader != null) votes.set(r.leader, (votes.get(r.leader) || 0) + 1);
  let best = null;
  let bestVotes = 0;
  for (const [id, v] of votes) if (v > bestVotes) [best, bestVotes] = [id, v];
  return best;
}

/** A node's place on the DHT ring as an angle in radians, from its key (hex or number). */
function ringAngle(key) {
  let fraction;
  if (typeof key === "number") fraction = (key % 1e9) / 1e9;
  else {
    const hex = String(key).replace(/^0x/, "").replace(/[^0-9a-fA-F]/g, "").slice(0, 8).padEnd(8, "0");
    fraction = parseInt(hex, 16) / 0x100000000;
  }
  return fraction * 2 * Math.PI - Math.PI / 2;
}

/** "3 s ago" style for milliseconds. */
function ago(ms) {
  if (ms == null) return "never";
  if (ms < 1000) return `${Math.round(ms)} ms ago`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s ago`;
  return `${Math.round(ms / 60000)} min ago`;
}

/** Nice y-axis maximum for a plot of these values. */
function niceMax(values) {
  const max = Math.max(0, ...values.filter((v) => Number.isFinite(v)));
  if (max === 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (max <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

/** A DHT node's ring position, wherever its status keeps it. */
function ringKey(p) {
  return p?.node?.ring ?? p?.position ?? p?.ring_position ?? p?.ring ?? null;
}

/** Undirected edges {a, b} (a < b) from each node's peer list, without repeats. */
function peerEdges(peersById) {
  const seen = new Set();
  const edges = [];
  for (const [id, peers] of Object.entries(peersById)) {
    for (const peer of peers || []) {
      const [a, b] = [Number(id), Number(peer)].sort((x, y) => x - y);
      if (a === b || seen.has(`${a}-${b}`)) continue;
      seen.add(`${a}-${b}`);
      edges.push({ a, b });
    }
  }
  return edges;
}

function lower(v) {
  return v == null ? "?" : String(v).toLowerCase();
}
function shortKey(k) {
  const s = String(k);
  return s.length > 10 ? s.slice(0, 8) + "…" : s;
}
function count(v) {
  return Array.isArray(v) ? v.length : typeof v === "object" && v ? Object.keys(v).length : v;
}
function keysOf(p) {
  const k = p.keys ?? p.stored_keys ?? p.key_count;
  return k == null ? "—" : `keys ${count(k)}`;
}
function brief(v) {
  if (v == null) return "null";
  if (Array.isArray(v)) return `[${v.length}]`;
  if (typeof v === "object") return "{…}";
  return String(v).slice(0, 24);
}

const SkeinLogic = {
  HISTORY_MAX,
  parsePrometheus,
  sumMetric,
  counterRate,
  pushBounded,
  SERVICES,
  describeNode,
  listAgreement,
  diffSnapshots,
  majorityLeader,
  ringAngle,
  ringKey,
  peerEdges,
  ago,
  niceMax,
};
if (typeof module !== "undefined") module.exports = SkeinLogic;
