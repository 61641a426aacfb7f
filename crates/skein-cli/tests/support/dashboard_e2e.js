// Drives headless Chromium over the DevTools protocol (on a pipe: no
// WebSocket library, no npm packages) through the dashboard's end-to-end
// check, for tests/dashboard_browser.rs:
//
//   node dashboard_e2e.js CHROMIUM URL NODES KILL_ID SCREENSHOT.png [PROFILE_DIR]
//
// Loads URL, waits until the node table shows NODES nodes up, clicks kill
// on node KILL_ID, waits until the table shows it down, saves a screenshot.
// KILL_ID "leader" kills the leader (or primary) the table marks, then also
// waits until the table marks another node up as the new leader.
// Every wait is bounded; exits non-zero with the reason on any failure.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const [chromium, url, nodes, killArg, screenshot, profileArg] = process.argv.slice(2);
const NEW_LEADER_WITHIN_MS = 30000;
const UP_WITHIN_MS = 30000;
const DOWN_WITHIN_MS = 15000;
const profile = profileArg || fs.mkdtempSync(path.join(os.tmpdir(), "skein-e2e-"));

const browser = spawn(
  chromium,
  [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--remote-debugging-pipe",
    `--user-data-dir=${profile}`,
    "--window-size=1280,1000",
    "about:blank",
  ],
  { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
);
let browserLog = "";
browser.stderr.on("data", (d) => (browserLog = (browserLog + d).slice(-4000)));

const toBrowser = browser.stdio[3];
const fromBrowser = browser.stdio[4];
let nextId = 1;
const waiting = new Map();
let buffered = "";
fromBrowser.on("data", (chunk) => {
  buffered += chunk.toString("utf8");
  let end;
  while ((end = buffered.indexOf("\0")) >= 0) {
    const message = JSON.parse(buffered.slice(0, end));
    buffered = buffered.slice(end + 1);
    const waiter = waiting.get(message.id);
    if (waiter) {
      waiting.delete(message.id);
      message.error ? waiter.reject(new Error(JSON.stringify(message.error))) : waiter.resolve(message.result);
    }
  }
});

function send(method, params = {}, sessionId) {
  const id = nextId++;
  toBrowser.write(JSON.stringify({ id, method, params, sessionId }) + "\0");
  return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function evaluate(session, expression) {
  const r = await send("Runtime.evaluate", { expression, returnByValue: true }, session);
  if (r.exceptionDetails) throw new Error(`page error: ${JSON.stringify(r.exceptionDetails).slice(0, 300)}`);
  return r.result.value;
}

async function waitFor(session, what, expression, withinMs) {
  const started = Date.now();
  let last;
  while (Date.now() - started < withinMs) {
    last = await evaluate(session, expression);
    if (last === true) return Date.now() - started;
    await sleep(200);
  }
  throw new Error(`${what}: not within ${withinMs} ms (last: ${JSON.stringify(last)})`);
}

let session = null;

async function saveScreenshot(file) {
  const shot = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true }, session);
  fs.writeFileSync(file, Buffer.from(shot.data, "base64"));
  console.log(`screenshot: ${file}`);
}

async function main() {
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId: s } = await send("Target.attachToTarget", { targetId, flatten: true });
  session = s;
  await send("Page.enable", {}, s);
  await send("Emulation.setDeviceMetricsOverride", { width: 1280, height: 1000, deviceScaleFactor: 1, mobile: false }, s);
  await send("Page.navigate", { url }, s);
  const upAfter = await waitFor(
    s,
    `${nodes} nodes up`,
    `document.querySelectorAll('#nodes tbody tr[data-state="up"]').length === ${Number(nodes)}`,
    UP_WITHIN_MS,
  );
  console.log(`table shows ${nodes} nodes up after ${upAfter} ms`);
  let killId = killArg;
  if (killArg === "leader") {
    await waitFor(s, "a leader", `!!document.querySelector('#nodes tr.leader[data-state="up"]')`, NEW_LEADER_WITHIN_MS);
    killId = await evaluate(s, `document.querySelector('#nodes tr.leader').dataset.node`);
    console.log(`the table marks node ${killId} as leader`);
  }
  await waitFor(s, "kill button", `!!document.querySelector('button[data-action="kill"][data-node="${killId}"]:not([disabled])')`, 10000);
  // A real click: at the button's centre, through the input pipeline.
  const box = await evaluate(
    s,
    `(() => { const b = document.querySelector('button[data-action="kill"][data-node="${killId}"]');
      b.scrollIntoView(); const r = b.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`,
  );
  for (const type of ["mousePressed", "mouseReleased"]) {
    await send("Input.dispatchMouseEvent", { type, x: box[0], y: box[1], button: "left", clickCount: 1 }, s);
  }
  const downAfter = await waitFor(s, `node ${killId} shown down`, `document.querySelector('#nodes tr[data-node="${killId}"]')?.dataset.state === "down"`, DOWN_WITHIN_MS);
  console.log(`table shows node ${killId} down ${downAfter} ms after the click`);
  if (killArg === "leader") {
    const electedAfter = await waitFor(
      s,
      "a new leader",
      `(() => { const r = document.querySelector('#nodes tr.leader[data-state="up"]'); return !!r && r.dataset.node !== "${killId}"; })()`,
      NEW_LEADER_WITHIN_MS,
    );
    const leader = await evaluate(s, `document.querySelector('#nodes tr.leader').dataset.node`);
    console.log(`table marks node ${leader} as the new leader ${electedAfter} ms later`);
  }
  const events = await evaluate(s, `[...document.querySelectorAll('#events li')].map(li => li.textContent).slice(0, 8)`);
  console.log(`event log: ${JSON.stringify(events)}`);
  await sleep(1500); // let a few more polls draw the plots
  await saveScreenshot(screenshot);
}

const deadline = setTimeout(() => finish(new Error("the whole check took over 90 s")), 90000);
function finish(error) {
  clearTimeout(deadline);
  browser.kill("SIGKILL");
  if (!profileArg) {
    // The browser may still be writing its profile as it dies: a leftover temp dir is harmless.
    try {
      fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
    } catch (_) {}
  }
  if (error) {
    console.error(`FAILED: ${error.message}\nchromium's stderr ends with:\n${browserLog}`);
    process.exit(1);
  }
  process.exit(0);
}
browser.on("exit", (code) => waiting.size && finish(new Error(`chromium exited (${code})`)));
main().then(
  () => finish(),
  async (error) => {
    // What the page showed when it failed, next to where the screenshot would be.
    if (session) await saveScreenshot(screenshot.replace(/\.png$/, "-failed.png")).catch(() => {});
    finish(error);
  },
);
