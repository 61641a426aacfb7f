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
        role: ring == null ? p.state || "ring member" : `ring ${shortKey(ringHex(ring))}`,
        term: p.state ?? "—",
        progress: keysOf(p),
        leader: null,
      };
    },
    throughput: { metric: "skein_requests_total", label: "requests/s" },
  },
  gossip: {
    // Delivered messages are read incrementally (messagesQuery), not as an extra.
    extra: ["/api/v1/gossip/peers"],
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

/**
 * A node's place on the DHT ring as an angle in radians, from its key: the
 * status's big-endian byte array (how a ring id serializes), hex, or a number.
 */
function ringAngle(key) {
  let fraction;
  if (typeof key === "number") fraction = (key % 1e9) / 1e9;
  else if (Array.isArray(key)) {
    fraction = key.slice(0, 4).reduce((acc, byte, i) => acc + (Number(byte) & 0xff) * 256 ** (3 - i), 0) / 0x100000000;
  } else {
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

/**
 * Where to put labels of points on a circle at `angles` (radians) so that
 * neighbours are at least `gap` apart (less if n·gap would overflow the
 * circle): each as near its own angle as that allows. Same order as given.
 * Two nodes close on the ring keep their true dots but get readable labels.
 */
function spreadAngles(angles, gap) {
  const n = angles.length;
  if (n < 2) return angles.slice();
  const TAU = 2 * Math.PI;
  gap = Math.min(gap, TAU / n);
  const order = angles.map((a, i) => [((a % TAU) + TAU) % TAU, i]).sort((x, y) => x[0] - y[0]);
  // Start after the widest empty arc: the wrap-around is where room is.
  let start = 0;
  let widest = -1;
  for (let k = 0; k < n; k++) {
    const next = k + 1 < n ? order[k + 1][0] : order[0][0] + TAU;
    if (next - order[k][0] > widest) [widest, start] = [next - order[k][0], (k + 1) % n];
  }
  const placed = [];
  for (let k = 0; k < n; k++) {
    const [a] = order[(start + k) % n];
    placed.push(start + k >= n ? a + TAU : a);
  }
  for (let k = 1; k < n; k++) placed[k] = Math.max(placed[k], placed[k - 1] + gap);
  placed[n - 1] = Math.min(placed[n - 1], placed[0] + TAU - gap);
  for (let k = n - 2; k >= 0; k--) placed[k] = Math.min(placed[k], placed[k + 1] - gap);
  const out = new Array(n);
  for (let k = 0; k < n; k++) {
    const [original, index] = order[(start + k) % n];
    // Back to the caller's turn of the circle.
    out[index] = angles[index] + (placed[k] - (start + k >= n ? original + TAU : original));
  }
  return out;
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

/** Recent broadcasts the coverage panel remembers; older ones are dropped. */
const BROADCASTS_MAX = 32;
/** Messages asked of a node per poll (the newest ones on the first poll). */
const MESSAGES_PAGE = 32;

/**
 * The query for a node's newest delivered messages: after the last sequence
 * number this page read (`cursor`), or the last MESSAGES_PAGE when it has
 * none or the node's count went backwards (another node on that address).
 */
function messagesQuery(cursor, delivered) {
  const fresh = cursor == null || !(delivered >= cursor);
  const after = fresh ? Math.max(0, (delivered || 0) - MESSAGES_PAGE) : cursor;
  return { after, query: `?after=${after}&limit=${MESSAGES_PAGE}` };
}

/**
 * Folds one node's page of delivered messages into `broadcasts` (id →
 * {id, origin, payload, deliveries: {node: at}}), timing each delivery on
 * the page's clock: the node's clock started `uptime_ms` before its status
 * was read (`statusAt`), and `delivered_ms` counts from that start. Keeps
 * the newest BROADCASTS_MAX broadcasts. Returns the node's new cursor.
 */
function recordDeliveries(broadcasts, node, page, statusAt, uptimeMs, max = BROADCASTS_MAX) {
  let cursor = null;
  const nodeStart = statusAt - uptimeMs;
  for (const m of page?.messages || []) {
    if (typeof m.id !== "string" || typeof m.delivered_ms !== "number") continue;
    let b = broadcasts.get(m.id);
    if (!b) {
      b = { id: m.id, origin: m.origin, payload: String(m.payload ?? "").slice(0, 80), deliveries: {} };
      broadcasts.set(m.id, b);
    }
    if (!(node in b.deliveries)) b.deliveries[node] = { at: nodeStart + m.delivered_ms, hops: m.hops };
    cursor = Math.max(cursor ?? 0, m.seq);
  }
  while (broadcasts.size > max) {
    const oldest = [...broadcasts.values()].reduce((a, c) => (broadcastStart(c) < broadcastStart(a) ? c : a));
    broadcasts.delete(oldest.id);
  }
  return cursor ?? (typeof page?.next_after === "number" ? page.next_after : null);
}

/** When a broadcast started: its earliest delivery (the origin delivers first). */
function broadcastStart(b) {
  const times = Object.values(b.deliveries).map((d) => d.at);
  return times.length ? Math.min(...times) : Infinity;
}

/** Broadcasts newest first, for the panel's chooser. */
function newestBroadcasts(broadcasts) {
  return [...broadcasts.values()].sort((a, b) => broadcastStart(b) - broadcastStart(a));
}

/**
 * Coverage over time as a step curve: [[ms after the first delivery,
 * nodes delivered so far]], from delivery times in ms (any common clock).
 */
function coverageCurve(times) {
  const sorted = times.filter((t) => Number.isFinite(t)).sort((a, b) => a - b);
  if (sorted.length === 0) return [];
  return sorted.map((t, i) => [t - sorted[0], i + 1]);
}

/** A beacon's trace (`/api/v1/gossip/trace/{id}`: reports of [node, ms, hops]) as a coverage curve. */
function traceCoverage(trace) {
  return coverageCurve((trace?.reports || []).map((r) => (Array.isArray(r) ? r[1] : NaN)));
}

/** The same from the page's own timing of each node's delivery. */
function estimatedCoverage(broadcast) {
  return coverageCurve(Object.values(broadcast?.deliveries || {}).map((d) => d.at));
}

/** "reached 18 of 20 nodes in 12 ms" for a curve; `total` is the nodes watched. */
function coverageSummary(curve, total) {
  if (curve.length === 0) return "no deliveries seen yet";
  const [ms, nodes] = curve[curve.length - 1];
  return `reached ${nodes} of ${total} nodes in ${Math.round(ms)} ms`;
}

function lower(v) {
  return v == null ? "?" : String(v).toLowerCase();
}
/** A ring id as hex, whether the status gave bytes or text. */
function ringHex(key) {
  if (!Array.isArray(key)) return String(key);
  return key.map((b) => (Number(b) & 0xff).toString(16).padStart(2, "0")).join("");
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
  ringHex,
  spreadAngles,
  peerEdges,
  BROADCASTS_MAX,
  MESSAGES_PAGE,
  messagesQuery,
  recordDeliveries,
  broadcastStart,
  newestBroadcasts,
  coverageCurve,
  traceCoverage,
  estimatedCoverage,
  coverageSummary,
  ago,
  niceMax,
};
if (typeof module !== "undefined") module.exports = SkeinLogic;
