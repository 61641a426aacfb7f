// The fault panel and the process actions: node fault endpoints (through
// the dashboard's proxy, or same-origin on a node's own page) and the
// launcher's kill/pause/resume/restart. Every action lands in the event log.
"use strict";

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
  if (state.config.launcher) {
    parts.push(el("p", { class: "muted" }, "kill, pause, resume and restart a node with the buttons on its row in the table"));
  } else {
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
