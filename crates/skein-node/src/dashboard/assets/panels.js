// The service panels: one function per service in PANELS; a service
// without one gets its status as JSON. A new service adds one function here
// and one entry in logic.js's SERVICES.
"use strict";

const PANELS = {
  raft: raftPanel,
  bftlist: bftPanel,
  dht: dhtPanel,
  gossip: gossipPanel,
};

/** Service reads beyond SERVICES' extras, run with each node's poll. */
const SERVICE_POLLS = { gossip: pollGossipMessages };
/** Service reads run once per poll round, after every node's. */
const ROUND_POLLS = { gossip: pollBeaconTrace };

/** The gossip panel's memory: recent broadcasts and each node's read cursor. */
const gossip = { broadcasts: new Map(), cursors: {}, selected: null, trace: null, chooser: null, choices: "" };

/** Reads only the messages a node delivered since the last poll. */
async function pollGossipMessages(node, entry, timeoutMs) {
  const { query } = L.messagesQuery(gossip.cursors[node.id], entry.status?.protocol?.delivered);
  const page = await getJson(`${node.api}/api/v1/gossip/messages${query}`, timeoutMs);
  const cursor = L.recordDeliveries(gossip.broadcasts, node.id, page, entry.statusAt, entry.status.uptime_ms);
  if (cursor != null) gossip.cursors[node.id] = cursor;
}

/** The shown broadcast's trace from a beacon, when the cluster has one up. */
async function pollBeaconTrace(timeoutMs) {
  const id = shownBroadcast()?.id;
  const beacon = state.config.nodes.find((n) => state.nodes[n.id]?.state === "up" && state.nodes[n.id].status?.protocol?.beacon === true);
  if (!id || !beacon) {
    gossip.trace = null;
    return;
  }
  try {
    gossip.trace = { id, beacon: beacon.id, value: await getJson(`${beacon.api}/api/v1/gossip/trace/${id}`, timeoutMs) };
  } catch (e) {
    gossip.trace = { id, beacon: beacon.id, error: e.message };
  }
}

function shownBroadcast() {
  return (gossip.selected && gossip.broadcasts.get(gossip.selected)) || L.newestBroadcasts(gossip.broadcasts)[0] || null;
}

function renderPanel(service, rows) {
  const panel = $("#panel");
  const render = PANELS[service] || genericPanel;
  panel.replaceChildren(el("h2", {}, `${service || "service"}`), ...[render(rows)].flat());
}

function raftPanel(rows) {
  const leaderRow = rows.find((r) => r.state === "up" && r.role === "leader");
  const parts = [el("p", {}, leaderRow ? `leader: node ${leaderRow.id}, term ${leaderRow.term}` : "no leader right now")];
  const followers = leaderRow?.entry.status?.protocol?.followers || [];
  const last = leaderRow?.entry.status?.protocol?.last_log_index || 0;
  if (followers.length) {
    parts.push(el("h3", {}, "replication (leader's match index per follower)"));
    parts.push(
      el(
        "div",
        { class: "bars" },
        followers.map((f) =>
          el(
            "div",
            { class: "bar" },
            el("span", {}, `node ${f.id}`),
            el("meter", { min: 0, max: Math.max(1, last), value: f.match_index }),
            el("span", {}, `${f.match_index}/${last} ${lowerState(f.state)}`),
          ),
        ),
      ),
    );
  }
  parts.push(el("h3", {}, "terms over time"));
  const svg = svgEl("svg", { class: "plot wide" });
  const ids = Object.keys(state.terms);
  plotTerms(svg, ids);
  parts.push(svg, termLegend(ids));
  return parts;
}

function lowerState(s) {
  return typeof s === "string" ? s.toLowerCase() : "";
}

function plotTerms(svg, ids) {
  const lines = ids.map((id, i) => ({ values: state.terms[id].map(([, t]) => t), cls: `s${(i % 5) + 1}` }));
  plot(svg, "term per node", lines);
}

function termLegend(ids) {
  return el("div", { class: "legend" }, ids.map((id, i) => el("span", { class: `key s${(i % 5) + 1}` }, `node ${id}`)));
}

function bftPanel(rows) {
  const lists = {};
  const correct = {};
  for (const r of rows) {
    const list = r.entry.extra?.["/api/v1/list"]?.list;
    if (r.state !== "up" || !list) continue;
    lists[r.id] = list;
    // Only correct replicas must agree: a Byzantine one may show anything.
    if (!r.entry.status?.protocol?.byzantine) correct[r.id] = list;
  }
  const agreement = L.listAgreement(correct);
  const table = el(
    "table",
    { class: "compact" },
    el("thead", {}, el("tr", {}, ["node", "view", "phase", "primary", "Byzantine", "executed"].map((h) => el("th", {}, h)))),
    el(
      "tbody",
      {},
      rows.map((r) => {
        const p = r.entry.status?.protocol || {};
        const up = r.state === "up";
        return el(
          "tr",
          { class: up && p.byzantine ? "byz" : "" },
          el("td", {}, r.id),
          el("td", {}, up ? (p.view ?? "—") : "—"),
          el("td", {}, up ? p.phase : "—"),
          el("td", {}, up ? (p.primary ?? "—") : "—"),
          el("td", {}, up ? p.byzantine || "correct" : "—"),
          el("td", {}, lists[r.id] ? `${lists[r.id].length} items` : "—"),
        );
      }),
    ),
  );
  const verdict = agreement.agree
    ? el("p", { class: "ok" }, `correct replicas agree: every executed list is a prefix of the longest (${agreement.longest} items)` + (agreement.behind.length ? `; behind: ${agreement.behind.join(", ")}` : ""))
    : el("p", { class: "bad" }, `correct replicas disagree: nodes ${agreement.diverged.join(", ")} diverge from the longest list`);
  const longest = Object.values(correct).reduce((a, b) => (b.length > a.length ? b : a), []);
  return [table, verdict, el("p", { class: "list" }, `executed (${longest.length > 20 ? "last 20" : "all"}): [${longest.length > 20 ? "…, " : ""}${longest.slice(-20).join(", ")}]`)];
}

function dhtPanel(rows) {
  const [width, height, radius] = [340, 250, 80];
  const [cx, cy] = [width / 2, height / 2];
  const svg = svgEl("svg", { class: "ring dht", viewBox: `0 0 ${width} ${height}` });
  svg.append(svgEl("circle", { cx, cy, r: radius, class: "ringline" }));
  const angles = rows.map((r) => L.ringAngle(L.ringKey(r.entry.status?.protocol || {}) ?? r.id * 977));
  // Nodes close on the ring keep their true dots; their labels move apart.
  const labelAngles = L.spreadAngles(angles, 0.4);
  rows.forEach((r, i) => {
    const p = r.entry.status?.protocol || {};
    const [x, y] = [cx + radius * Math.cos(angles[i]), cy + radius * Math.sin(angles[i])];
    const [lx, ly] = [cx + (radius + 16) * Math.cos(labelAngles[i]), cy + (radius + 16) * Math.sin(labelAngles[i])];
    svg.append(svgEl("line", { x1: x, y1: y, x2: lx, y2: ly, class: "grid" }));
    svg.append(svgEl("circle", { cx: x, cy: y, r: 6, class: `dot ${r.state}`, "data-node": r.id }));
    const label = svgEl("text", { x: lx, y: ly + 3, class: `axis ${Math.cos(labelAngles[i]) < -0.1 ? "left" : Math.cos(labelAngles[i]) > 0.1 ? "" : "middle"}` });
    label.textContent = `${r.id}${p.keys != null ? ` (${p.keys} keys)` : ""}`;
    svg.append(label);
  });
  return [el("p", { class: "muted" }, "each node at its ring position, with how many keys it stores"), svg, genericDetails(rows, ["/api/v1/dht/routing", "/api/v1/dht/size"])];
}

function gossipPanel(rows) {
  const size = 240;
  const svg = svgEl("svg", { class: "ring", viewBox: `0 0 ${size} ${size}` });
  const at = {};
  rows.forEach((r, i) => {
    const a = (i / Math.max(1, rows.length)) * 2 * Math.PI - Math.PI / 2;
    at[r.id] = [size / 2 + 85 * Math.cos(a), size / 2 + 85 * Math.sin(a)];
  });
  const peers = Object.fromEntries(rows.filter((r) => r.state === "up").map((r) => [r.id, r.entry.status?.protocol?.eager_peers || []]));
  for (const { a, b } of L.peerEdges(peers)) {
    if (at[a] && at[b]) svg.append(svgEl("line", { x1: at[a][0], y1: at[a][1], x2: at[b][0], y2: at[b][1], class: "edge" }));
  }
  for (const r of rows) {
    const [x, y] = at[r.id];
    svg.append(svgEl("circle", { cx: x, cy: y, r: 8, class: `dot ${r.state}` }));
    const label = svgEl("text", { x: x + 10, y: y + 4, class: "axis" });
    const delivered = r.entry.status?.protocol?.delivered;
    label.textContent = `${r.id}${delivered != null ? ` (${delivered})` : ""}`;
    svg.append(label);
  }
  return [
    el("p", { class: "muted" }, "eager-push links between nodes, and how many broadcasts each delivered"),
    svg,
    ...coverageSection(rows.length),
    genericDetails(rows, ["/api/v1/gossip/peers"]),
  ];
}

/** How many nodes delivered one broadcast, over time from its start. */
function coverageSection(total) {
  const parts = [el("h3", {}, "broadcast coverage")];
  const shown = shownBroadcast();
  if (!shown) {
    parts.push(el("p", { class: "muted" }, "no broadcast seen yet: send one with `skein gossip broadcast TEXT --api URL` (or POST /api/v1/gossip/broadcast)"));
    return parts;
  }
  parts.push(broadcastChooser(shown.id));
  const traced = gossip.trace?.id === shown.id && gossip.trace.value ? gossip.trace : null;
  const curve = traced ? L.traceCoverage(traced.value) : L.estimatedCoverage(shown);
  const source = traced
    ? `timed by beacon node ${traced.beacon} (its clock, as each node's report arrived)`
    : "timed from each node's delivery time and uptime (± its status round trip; start a node with --set beacon=true for exact times)";
  const svg = svgEl("svg", { id: "coverage", class: "plot wide", "data-nodes": curve.length ? curve[curve.length - 1][1] : 0, "data-source": traced ? "beacon" : "estimate" });
  plotSteps(svg, `nodes that delivered ${shown.id} (of ${total})`, curve, total);
  parts.push(svg, el("p", {}, L.coverageSummary(curve, total)), el("p", { class: "muted" }, source));
  return parts;
}

/** A select of recent broadcasts, kept across renders so a choice sticks. */
function broadcastChooser(shownId) {
  const list = L.newestBroadcasts(gossip.broadcasts);
  const choices = list.map((b) => b.id).join(",");
  if (!gossip.chooser) {
    gossip.chooser = el("select", { id: "broadcast", onchange: (e) => { gossip.selected = e.target.value; render(); } });
  }
  if (gossip.choices !== choices) {
    gossip.choices = choices;
    gossip.chooser.replaceChildren(
      ...list.map((b) => el("option", { value: b.id }, `${b.id.slice(-6)} from node ${b.origin}: ${JSON.stringify(b.payload).slice(0, 40)}`)),
    );
  }
  gossip.chooser.value = shownId;
  return el("div", { class: "fault" }, "broadcast ", gossip.chooser);
}

function genericPanel(rows) {
  return [el("p", {}, "no panel for this service yet: each node's service status as JSON"), genericDetails(rows, [])];
}

function genericDetails(rows, paths) {
  return el(
    "div",
    { class: "generic" },
    rows
      .filter((r) => r.state === "up")
      .map((r) =>
        el(
          "details",
          {},
          el("summary", {}, `node ${r.id}`),
          el("pre", {}, JSON.stringify({ protocol: r.entry.status?.protocol, ...Object.fromEntries(paths.map((p) => [p, r.entry.extra?.[p]])) }, null, 1).slice(0, 4000)),
        ),
      ),
  );
}
