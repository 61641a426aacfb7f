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
  const size = 240;
  const svg = svgEl("svg", { class: "ring", viewBox: `0 0 ${size} ${size}` });
  svg.append(svgEl("circle", { cx: size / 2, cy: size / 2, r: 80, class: "ringline" }));
  for (const r of rows) {
    const p = r.entry.status?.protocol || {};
    const a = L.ringAngle(L.ringKey(p) ?? r.id * 977);
    const x = size / 2 + 80 * Math.cos(a);
    const y = size / 2 + 80 * Math.sin(a);
    svg.append(svgEl("circle", { cx: x, cy: y, r: 7, class: `dot ${r.state}` }));
    const label = svgEl("text", { x: x + 9, y: y + 4, class: "axis" });
    label.textContent = `${r.id}${p.keys != null ? ` (${p.keys} keys)` : ""}`;
    svg.append(label);
  }
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
    genericDetails(rows, ["/api/v1/gossip/peers", "/api/v1/gossip/messages"]),
  ];
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
