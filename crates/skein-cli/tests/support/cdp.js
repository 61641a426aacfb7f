// Headless Chromium over the DevTools protocol on a pipe (no WebSocket
// library, no npm packages), for the dashboard's browser checks
// (dashboard_e2e.js, dashboard_panels.js). Every wait is bounded.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts chromium; returns {send, evaluate, waitFor, open, screenshot, close, log}. */
function launch(chromium, profileArg) {
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
  const b = {
    session: null,
    exited: null,
    send(method, params = {}, sessionId = b.session) {
      const id = nextId++;
      toBrowser.write(JSON.stringify({ id, method, params, sessionId: sessionId ?? undefined }) + "\0");
      return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
    },
    async evaluate(expression) {
      const r = await b.send("Runtime.evaluate", { expression, returnByValue: true });
      if (r.exceptionDetails) throw new Error(`page error: ${JSON.stringify(r.exceptionDetails).slice(0, 300)}`);
      return r.result.value;
    },
    /** Polls `expression` every 200 ms until it is true; returns the ms it took. */
    async waitFor(what, expression, withinMs) {
      const started = Date.now();
      let last;
      while (Date.now() - started < withinMs) {
        last = await b.evaluate(expression);
        if (last === true) return Date.now() - started;
        await sleep(200);
      }
      throw new Error(`${what}: not within ${withinMs} ms (last: ${JSON.stringify(last)})`);
    },
    async open(url) {
      const { targetId } = await b.send("Target.createTarget", { url: "about:blank" }, null);
      const { sessionId } = await b.send("Target.attachToTarget", { targetId, flatten: true }, null);
      b.session = sessionId;
      await b.send("Page.enable");
      await b.send("Emulation.setDeviceMetricsOverride", { width: 1280, height: 1000, deviceScaleFactor: 1, mobile: false });
      await b.send("Page.navigate", { url });
    },
    async screenshot(file) {
      const shot = await b.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
      fs.writeFileSync(file, Buffer.from(shot.data, "base64"));
      console.log(`screenshot: ${file}`);
    },
    close() {
      browser.kill("SIGKILL");
      if (!profileArg) {
        // The browser may still be writing its profile as it dies: a leftover temp dir is harmless.
        try {
          fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
        } catch (_) {}
      }
    },
    log: () => browserLog,
    pending: () => waiting.size,
  };
  browser.on("exit", (code) => (b.exited = code));
  return { b, browser };
}

/**
 * Runs `check(b)` with a whole-run bound; exits 0, or 1 with the reason and
 * a screenshot of what the page showed beside `screenshot` ("-failed.png").
 */
function run(chromium, profile, screenshot, withinMs, check) {
  const { b, browser } = launch(chromium, profile);
  let done = false;
  function finish(error) {
    if (done) return;
    done = true;
    clearTimeout(deadline);
    b.close();
    if (error) {
      console.error(`FAILED: ${error.message}\nchromium's stderr ends with:\n${b.log()}`);
      process.exit(1);
    }
    process.exit(0);
  }
  const deadline = setTimeout(() => finish(new Error(`the whole check took over ${withinMs} ms`)), withinMs);
  browser.on("exit", (code) => b.pending() && finish(new Error(`chromium exited (${code})`)));
  check(b).then(
    () => finish(),
    async (error) => {
      if (b.session) await b.screenshot(screenshot.replace(/\.png$/, "-failed.png")).catch(() => {});
      finish(error);
    },
  );
}

module.exports = { launch, run, sleep };
