// The dashboard page: polls every node's public REST endpoints and /metrics,
// draws the node table, the service's panel, plots and the event log, and
// sends fault actions. Logic worth testing lives in logic.js.
"use strict";

const L = SkeinLogic;
const $ = (sel) => document.querySelector(sel);

const state = {
  config: null,
  nodes: {}, // id → {status, caps, metrics, extra, state, rtt, lastOk, rates}
  snapshot: null,
  series: { time: [], throughput: [], messages: [], latency: [] },
  terms: {}, // id → [[t, term]]
  launcher: {}, // id → launcher-recorded state
  timer: null,
  faultsAllowed: false,
};

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v != null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c != null) e.append(c instanceof Node ? c : String(c));
  return e;
}

function svgEl(tag, attrs = {}) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function log(text, kind = "info") {
  const time = new Date().toLocaleTimeString();
  const list = $("#events");
  list.prepend(el("li", { class: kind }, el("time", {}, time), " ", text));
  while (list.children.length > L.HISTORY_MAX) list.lastChild.remove();
}

async function fetchWithTimeout(url, options = {}, timeoutMs = 1500) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    return await fetch(url, { ...options, signal: abort.signal, cache: "no-store" });
  } finally {
    clearTimeout(timer);
  }
}

async function getJson(url, timeoutMs) {
  const r = await fetchWithTimeout(url, {}, timeoutMs);
  if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
  return r.json();
}

/** One poll of one node: status (timed), metrics, capabilities once, service extras. */
async function pollNode(node, timeoutMs) {
  const entry = (state.nodes[node.id] ||= { rates: {}, extra: {} });
  const started = performance.now();
  try {
    entry.status = await getJson(`${node.api}/api/v1/status`, timeoutMs);
    entry.rtt = performance.now() - started;
    entry.lastOk = Date.now();
    entry.state = "up";
  } catch (e) {
    entry.state = e.name === "AbortError" ? "unresponsive" : "down";
    entry.rtt = null;
    return;
  }
  const service = entry.status.service;
  const jobs = [];
  if (!entry.caps) jobs.push(getJson(`${node.api}/api/v1/capabilities`, timeoutMs).then((c) => (entry.caps = c)));
  jobs.push(
    fetchWithTimeout(node.metrics, {}, timeoutMs)
      .then((r) => (r.ok ? r.text() : ""))
      .then((text) => readMetrics(entry, service, text)),
  );
  for (const path of L.SERVICES[service]?.extra || []) {
    jobs.push(getJson(`${node.api}${path}`, timeoutMs).then((v) => (entry.extra[path] = v), () => delete entry.extra[path]));
  }
  await Promise.allSettled(jobs);
}

function readMetrics(entry, service, text) {
  const parsed = L.parsePrometheus(text);
  const now = performance.now() / 1000;
  const throughputMetric = L.SERVICES[service]?.throughput?.metric || "skein_requests_total";
  const sample = {
    at: now,
    sent: L.sumMetric(parsed, "skein_messages_sent_total"),
    received: L.sumMetric(parsed, "skein_messages_received_total"),
    // Counters gain `_total` when encoded; accept a name given either way.
    work: L.sumMetric(parsed, throughputMetric) ?? L.sumMetric(parsed, `${throughputMetric}_total`),
    latencySum: L.sumMetric(parsed, "skein_request_duration_seconds_sum"),
    latencyCount: L.sumMetric(parsed, "skein_request_duration_seconds_count"),
  };
  const prev = entry.sample;
  if (prev) {
    const dt = sample.at - prev.at;
    const sent = L.counterRate(prev.sent, sample.sent, dt);
    const received = L.counterRate(prev.received, sample.received, dt);
    entry.rates = {
      messages: sent == null && received == null ? null : (sent || 0) + (received || 0),
      work: L.counterRate(prev.work, sample.work, dt),
      latency: meanLatency(prev, sample),
    };
  }
  entry.sample = sample;
}

function meanLatency(prev, cur) {
  const n = L.counterRate(prev.latencyCount, cur.latencyCount, 1);
  const s = L.counterRate(prev.latencySum, cur.latencySum, 1);
  return n > 0 && s != null ? (s / n) * 1000 : null;
}

async function pollLauncher() {
  if (!state.config.launcher) return;
  try {
    const cluster = await getJson("dashboard/cluster", 1500);
    state.launcher = Object.fromEntries(cluster.nodes.map((n) => [n.id, n.state]));
  } catch (_) {
    state.launcher = {};
  }
}

/** What the table shows as a node's state: what we saw, refined by what the launcher did to it. */
function shownState(id) {
  const seen = state.nodes[id]?.state || "unknown";
  const recorded = state.launcher[id];
  if (seen !== "up" && recorded === "paused") return "paused";
  if (seen !== "up" && (recorded === "killed" || recorded === "stopped")) return "down";
  return seen;
}

async function tick() {
  // A slow poll must not pile up behind the next: skip a beat instead.
  if (state.polling) return;
  state.polling = true;
  try {
    await pollAll();
  } finally {
    state.polling = false;
  }
  render();
}

async function pollAll() {
  // Generous: a browser sends at most 6 requests at a time to one host, so
  // through the proxy a busy cluster's calls queue; a paused node still
  // shows as unresponsive within a few seconds.
  const timeoutMs = Math.min(5000, Math.max(2500, 2 * state.config.interval_ms));
  // A node the launcher paused cannot answer: skip it rather than stall every poll on its timeout.
  const polled = state.config.nodes.filter((n) => {
    if (state.launcher[n.id] !== "paused") return true;
    (state.nodes[n.id] ||= { rates: {}, extra: {} }).state = "paused";
    return false;
  });
  await Promise.allSettled([...polled.map((n) => pollNode(n, timeoutMs)), pollLauncher()]);
}

function rowsNow() {
  return state.config.nodes.map((n) => {
    const e = state.nodes[n.id] || {};
    const service = e.status?.service || state.config.service || "?";
    const described = e.state === "up" ? L.describeNode(service, e.status.protocol, n.id) : { role: "—", term: "—", progress: "—", leader: null };
    return { id: n.id, service, state: shownState(n.id), ...described, entry: e };
  });
}

function render() {
  const rows = rowsNow();
  const up = rows.filter((r) => r.state === "up");
  const service = up[0]?.service || state.config.service || rows[0]?.service;
  const leader = L.majorityLeader(up);
  const leaderWord = service === "bftlist" ? "primary" : "leader";
  const snapshot = { nodes: Object.fromEntries(rows.map((r) => [r.id, { state: r.state }])), leader, leaderWord };
  for (const line of L.diffSnapshots(state.snapshot, snapshot)) log(line, "change");
  state.snapshot = snapshot;
  state.faultsAllowed = Object.values(state.nodes).some((e) => e.caps?.allow_fault_injection);

  $("#service").textContent = service || "?";
  $("#summary").textContent = `${up.length}/${rows.length} up` + (leader != null ? ` · ${leaderWord} ${leader}` : "");
  $("#summary").className = `pill ${up.length === rows.length ? "ok" : up.length * 2 > rows.length ? "warn" : "bad"}`;
  renderTable(rows, leader);
  recordSeries(rows);
  renderPlots();
  renderPanel(service, rows);
  renderFaults(rows, service);
}

function renderTable(rows, leader) {
  const body = $("#nodes tbody");
  body.replaceChildren(
    ...rows.map((r) => {
      const e = r.entry;
      const heard = e.lastOk ? L.ago(Date.now() - e.lastOk) : "never";
      const actions = state.config.launcher && state.faultsAllowed ? processButtons(r.id, r.state) : null;
      return el(
        "tr",
        { "data-node": r.id, "data-state": r.state, class: r.id === leader ? "leader" : "" },
        el("td", {}, r.id),
        el("td", {}, r.service),
        el("td", {}, el("span", { class: `badge ${r.state}` }, r.state)),
        el("td", {}, r.role),
        el("td", {}, r.term ?? "—"),
        el("td", {}, r.progress),
        el("td", {}, heard),
        el("td", { class: "num" }, e.rates?.messages == null || r.state !== "up" ? "—" : e.rates.messages.toFixed(0)),
        el("td", { class: "num" }, e.rtt == null ? "—" : `${e.rtt.toFixed(0)} ms`),
        el("td", { class: "actions" }, actions),
      );
    }),
  );
}

function processButtons(id, shown) {
  const button = (action, enabled) =>
    el("button", { "data-action": action, "data-node": id, disabled: enabled ? null : "", onclick: () => processAction(id, action) }, action);
  return [
    button("kill", shown !== "down"),
    button("pause", shown === "up"),
    button("resume", shown === "paused"),
    button("restart", true),
  ];
}

function recordSeries(rows) {
  const up = rows.filter((r) => r.state === "up");
  const sum = (f) => {
    const v = up.map((r) => f(r.entry.rates || {})).filter((x) => x != null);
    return v.length ? v.reduce((a, b) => a + b, 0) : null;
  };
  const latencies = up.map((r) => r.entry.rates?.latency).filter((x) => x != null);
  const rtts = up.map((r) => r.entry.rtt).filter((x) => x != null);
  const s = state.series;
  L.pushBounded(s.time, Date.now());
  // bftlist's executed counter counts at every replica: divide by replicas for the cluster's rate.
  const work = sum((x) => x.work);
  L.pushBounded(s.throughput, work == null ? null : work / Math.max(1, up.length));
  L.pushBounded(s.messages, sum((x) => x.messages));
  s.latencyLabel = latencies.length ? "request latency (mean, ms, from metrics)" : "status round trip (mean, ms)";
  const l = latencies.length ? latencies : rtts;
  L.pushBounded(s.latency, l.length ? l.reduce((a, b) => a + b, 0) / l.length : null);
  for (const r of up) {
    const term = r.entry.status?.protocol?.term ?? r.entry.status?.protocol?.view;
    if (typeof term === "number") L.pushBounded((state.terms[r.id] ||= []), [Date.now(), term]);
  }
}

function renderPlots() {
  const s = state.series;
  const thr = L.SERVICES[$("#service").textContent]?.throughput?.label || "requests/s";
  plot($("#plot-throughput"), `throughput (${thr}, cluster)`, [{ values: s.throughput, cls: "s1" }]);
  plot($("#plot-messages"), "messages/s (sent + received, all nodes)", [{ values: s.messages, cls: "s2" }]);
  plot($("#plot-latency"), s.latencyLabel || "latency (ms)", [{ values: s.latency, cls: "s3" }]);
}

/** A small line plot drawn by hand into an <svg>. */
function plot(svg, title, lines) {
  const W = 320;
  const H = 120;
  const pad = { l: 40, r: 8, t: 18, b: 14 };
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const all = lines.flatMap((l) => l.values.filter((v) => v != null));
  const max = L.niceMax(all);
  const title_ = svgEl("text", { x: pad.l, y: 12, class: "title" });
  title_.textContent = title;
  svg.append(title_);
  for (const f of [0, 0.5, 1]) {
    const y = pad.t + (1 - f) * (H - pad.t - pad.b);
    svg.append(svgEl("line", { x1: pad.l, x2: W - pad.r, y1: y, y2: y, class: "grid" }));
    const label = svgEl("text", { x: pad.l - 4, y: y + 3, class: "axis" });
    label.textContent = formatNumber(max * f);
    svg.append(label);
  }
  // The newest point sits at the right edge; a short history fills a minute's width, not the whole.
  const span = Math.max(PLOT_POINTS_MIN, ...lines.map((l) => l.values.length)) - 1;
  const x = (age) => W - pad.r - (age / span) * (W - pad.l - pad.r);
  const y = (v) => pad.t + (1 - v / max) * (H - pad.t - pad.b);
  for (const line of lines) {
    const n = line.values.length;
    let d = "";
    line.values.forEach((v, i) => {
      if (v == null) return;
      d += `${d && line.values[i - 1] != null ? "L" : "M"}${x(n - 1 - i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    if (d) svg.append(svgEl("path", { d, class: `line ${line.cls}` }));
  }
}

/** Below this many points a plot still spans this many, so early lines do not stretch. */
const PLOT_POINTS_MIN = 60;

function formatNumber(v) {
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k`;
  return v >= 10 ? v.toFixed(0) : v.toFixed(v === 0 ? 0 : 1);
}

// ---- per-service panels: one function per service; unknown services get the generic one.

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

// ---- fault panel

function renderFaults(rows, service) {
  const box = $("#faults");
  if (!state.faultsAllowed) {
    box.replaceChildren(el("h2", {}, "faults"), el("p", { class: "muted" }, "fault injection is off: start the cluster with `skein cluster up --allow-fault-injection` to kill, pause and corrupt nodes from here"));
    return;
  }
  if (box.dataset.built === service) {
    return; // built once per service so open selects keep their choice
  }
  box.dataset.built = service;
  // A node's own page may write only to that node: nodes refuse cross-origin writes.
  const reachable = rows.filter((r) => state.config.launcher || sameOrigin(r.id));
  const nodeSelect = () => el("select", { class: "node" }, reachable.map((r) => el("option", { value: r.id }, `node ${r.id}`)));
  const parts = [el("h2", {}, "faults")];
  if (!state.config.launcher) {
    parts.push(el("p", { class: "muted" }, "from a node's own page only that node takes fault calls, and kill/pause/restart need the launcher: open the URL `skein cluster up` prints (or run `skein dashboard --dir DIR`)"));
  }
  if (service === "bftlist") {
    const who = nodeSelect();
    const behaviour = el("select", {}, el("option", { value: "" }, "correct (none)"), BEHAVIOURS.map((b) => el("option", { value: b }, b)));
    parts.push(
      el("div", { class: "fault" }, "Byzantine: ", who, behaviour, el("button", { onclick: () => nodeFault(who.value, "PUT", "/api/v1/bft/byzantine", { behaviour: behaviour.value || null }, `set ${behaviour.value || "correct"}`) }, "set")),
    );
    const victim = nodeSelect();
    parts.push(el("div", { class: "fault" }, "corrupt state: ", victim, el("button", { onclick: () => nodeFault(victim.value, "POST", "/api/v1/bft/corrupt", {}, "corrupt state") }, "corrupt")));
  }
  const cut = nodeSelect();
  const from = el("input", { type: "text", placeholder: "peer ids, e.g. 2,3", size: 10 });
  parts.push(
    el(
      "div",
      { class: "fault" },
      "cut links: ",
      cut,
      " drops all frames to and from ",
      from,
      el("button", { onclick: () => nodeFault(cut.value, "PUT", "/api/v1/fault/partition", { blocked: parseIds(from.value) }, `cut links to [${from.value}]`) }, "cut"),
      el("button", { onclick: () => nodeFault(cut.value, "PUT", "/api/v1/fault/partition", { blocked: [] }, "heal links") }, "heal"),
    ),
  );
  box.replaceChildren(...parts);
}

function sameOrigin(id) {
  const node = state.config.nodes.find((n) => n.id === id);
  return node && new URL(node.api, location.href).origin === location.origin;
}

const BEHAVIOURS = ["unresponsive", "unresponsive-to-half", "different-views", "forcing-reset", "stop-assigning-seqnums", "assign-different-seqnums", "reuse-seqnums", "seqnum-out-bound", "wrong-ccsp", "modify-client-req"];

function parseIds(text) {
  return text
    .split(/[ ,]+/)
    .map((s) => Number(s))
    .filter((n) => Number.isInteger(n) && n > 0);
}

async function nodeFault(id, method, path, body, what) {
  const node = state.config.nodes.find((n) => String(n.id) === String(id));
  try {
    const r = await fetchWithTimeout(`${node.api}${path}`, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) }, 5000);
    const text = await r.text();
    log(`node ${id}: ${what} → ${r.status} ${text.slice(0, 200)}`, r.ok ? "action" : "error");
  } catch (e) {
    log(`node ${id}: ${what} failed: ${e.message}`, "error");
  }
}

async function processAction(id, action) {
  log(`node ${id}: ${action}…`, "action");
  try {
    const r = await fetchWithTimeout(`dashboard/action/${id}/${action}`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }, 40000);
    const reply = await r.json();
    log(`node ${id}: ${reply.message}`, r.ok ? "action" : "error");
  } catch (e) {
    log(`node ${id}: ${action} failed: ${e.message}`, "error");
  }
  tick();
}

// ---- start

function schedule() {
  clearInterval(state.timer);
  state.timer = setInterval(tick, state.config.interval_ms);
}

async function start() {
  state.config = await getJson("dashboard/config.json", 5000);
  const params = new URLSearchParams(location.search);
  const asked = Number(params.get("interval"));
  if (asked >= 200) state.config.interval_ms = asked;
  const select = $("#interval");
  if (![...select.options].some((o) => Number(o.value) === state.config.interval_ms)) {
    select.append(el("option", { value: state.config.interval_ms }, `${state.config.interval_ms} ms`));
  }
  select.value = String(state.config.interval_ms);
  select.addEventListener("change", () => {
    state.config.interval_ms = Number(select.value);
    log(`polling every ${select.value} ms`);
    schedule();
  });
  $("#source").textContent = state.config.launcher ? "launcher" : "node";
  log(`watching ${state.config.nodes.length} nodes`);
  await tick();
  schedule();
}

start().catch((e) => log(`cannot load the dashboard's config: ${e.message}`, "error"));
