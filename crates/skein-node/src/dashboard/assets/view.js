// Drawing helpers shared by the page's scripts: DOM and SVG elements, the
// event log, and the hand-drawn line plots.
"use strict";

const L = SkeinLogic;
const $ = (sel) => document.querySelector(sel);

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

/**
 * A step curve of [x ms, y] points from x = 0, y from 0 to `yMax` (how
 * coverage over time is drawn: y rises by one at each delivery).
 */
function plotSteps(svg, title, points, yMax) {
  const W = 320;
  const H = 120;
  const pad = { l: 40, r: 12, t: 18, b: 16 };
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const last = points.length ? points[points.length - 1][0] : 0;
  const xMax = L.niceMax([last]);
  const top = Math.max(1, yMax);
  const x = (v) => pad.l + (v / xMax) * (W - pad.l - pad.r);
  const y = (v) => pad.t + (1 - v / top) * (H - pad.t - pad.b);
  const heading = svgEl("text", { x: pad.l, y: 12, class: "title" });
  heading.textContent = title;
  svg.append(heading);
  for (const f of [0, 0.5, 1]) {
    svg.append(svgEl("line", { x1: pad.l, x2: W - pad.r, y1: y(top * f), y2: y(top * f), class: "grid" }));
    const label = svgEl("text", { x: pad.l - 4, y: y(top * f) + 3, class: "axis" });
    // Node counts: whole numbers only.
    label.textContent = Number.isInteger(top * f) ? String(top * f) : "";
    svg.append(label);
  }
  for (const [v, text] of [[0, "0"], [xMax, `${formatNumber(xMax)} ms`]]) {
    const label = svgEl("text", { x: x(v) + (v ? 0 : 6), y: H - 3, class: "axis" });
    label.textContent = text;
    svg.append(label);
  }
  if (points.length === 0) return;
  let d = `M${x(0).toFixed(1)},${y(0).toFixed(1)}`;
  let previous = 0;
  for (const [px, py] of points) {
    d += `L${x(px).toFixed(1)},${y(previous).toFixed(1)}L${x(px).toFixed(1)},${y(py).toFixed(1)}`;
    previous = py;
  }
  d += `L${x(xMax).toFixed(1)},${y(previous).toFixed(1)}`;
  svg.append(svgEl("path", { d, class: "line s2" }));
}

/** Below this many points a plot still spans this many, so early lines do not stretch. */
const PLOT_POINTS_MIN = 60;

function formatNumber(v) {
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k`;
  return v >= 10 ? v.toFixed(0) : v.toFixed(v === 0 ? 0 : 1);
}
