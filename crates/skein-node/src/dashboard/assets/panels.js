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
  const size = 220;
  const svg = svgEl("svg", { class: "ring", viewBox: `0 0 ${size} ${size}` });
  svg.append(svgEl("circle", { cx: size / 2, cy: size / 2, r: 80, class: "ringline" }));
  for (const r of rows) {
    const p = r.entry.status?.protocol || {};
    const key = p.position ?? p.ring_position ?? p.node_key ?? p.key ?? r.id * 977;
    const a = L.ringAngle(key);
    const x = size / 2 + 80 * Math.cos(a);
    const y = size / 2 + 80 * Math.sin(a);
    svg.append(svgEl("circle", { cx: x, cy: y, r: 7, class: `dot ${r.state}` }));
    const label = svgEl("text", { x: x + 9, y: y + 4, class: "axis" });
    const sizeInfo = r.entry.extra?.["/api/v1/dht/size"];
    label.textContent = `${r.id}${sizeInfo != null ? ` (${typeof sizeInfo === "object" ? Object.values(sizeInfo)[0] : sizeInfo} keys)` : ""}`;
    svg.append(label);
  }
  return [svg, genericDetails(rows, ["/api/v1/dht/routing"])];
}

function gossipPanel(rows) {
  return [el("p", {}, "peers and messages as each node reports them"), genericDetails(rows, ["/api/v1/gossip/peers", "/api/v1/gossip/messages"])];
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
