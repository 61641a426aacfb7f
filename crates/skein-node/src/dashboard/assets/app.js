// The dashboard page: polls every node's public REST endpoints and /metrics,
// draws the node table, the service's panel, plots and the event log, and
// sends fault actions. Loaded last: view.js, panels.js and faults.js define
// what it calls. Logic worth testing lives in logic.js.
"use strict";

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
  const startedAt = Date.now();
  try {
    entry.status = await getJson(`${node.api}/api/v1/status`, timeoutMs);
    entry.rtt = performance.now() - started;
    // When the node read its clock for this status, on the page's clock (± half the round trip).
    entry.statusAt = startedAt + entry.rtt / 2;
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
  if (SERVICE_POLLS[service]) jobs.push(SERVICE_POLLS[service](node, entry, timeoutMs));
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
  const service = Object.values(state.nodes).find((e) => e.state === "up")?.status?.service;
  if (ROUND_POLLS[service]) await ROUND_POLLS[service](timeoutMs).catch(() => {});
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
