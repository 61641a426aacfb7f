// The dashboard's end-to-end check in headless Chromium, for
// tests/dashboard_browser.rs:
//
//   node dashboard_e2e.js CHROMIUM URL NODES KILL_ID SCREENSHOT.png [PROFILE_DIR]
//
// Loads URL, waits until the node table shows NODES nodes up, clicks kill
// on node KILL_ID, waits until the table shows it down, saves a screenshot.
// KILL_ID "leader" kills the leader (or primary) the table marks, then also
// waits until the table marks another node up as the new leader.
// Every wait is bounded; exits non-zero with the reason on any failure.
"use strict";
const { run, sleep } = require("./cdp.js");

const [chromium, url, nodes, killArg, screenshot, profile] = process.argv.slice(2);
const NEW_LEADER_WITHIN_MS = 30000;
const UP_WITHIN_MS = 30000;
const DOWN_WITHIN_MS = 15000;

run(chromium, profile, screenshot, 90000, async (b) => {
  await b.open(url);
  const upAfter = await b.waitFor(`${nodes} nodes up`, `document.querySelectorAll('#nodes tbody tr[data-state="up"]').length === ${Number(nodes)}`, UP_WITHIN_MS);
  console.log(`table shows ${nodes} nodes up after ${upAfter} ms`);
  let killId = killArg;
  if (killArg === "leader") {
    await b.waitFor("a leader", `!!document.querySelector('#nodes tr.leader[data-state="up"]')`, NEW_LEADER_WITHIN_MS);
    killId = await b.evaluate(`document.querySelector('#nodes tr.leader').dataset.node`);
    console.log(`the table marks node ${killId} as leader`);
  }
  await b.waitFor("kill button", `!!document.querySelector('button[data-action="kill"][data-node="${killId}"]:not([disabled])')`, 10000);
  // A real click: at the button's centre, through the input pipeline.
  const box = await b.evaluate(
    `(() => { const b = document.querySelector('button[data-action="kill"][data-node="${killId}"]');
      b.scrollIntoView(); const r = b.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`,
  );
  for (const type of ["mousePressed", "mouseReleased"]) {
    await b.send("Input.dispatchMouseEvent", { type, x: box[0], y: box[1], button: "left", clickCount: 1 });
  }
  const downAfter = await b.waitFor(`node ${killId} shown down`, `document.querySelector('#nodes tr[data-node="${killId}"]')?.dataset.state === "down"`, DOWN_WITHIN_MS);
  console.log(`table shows node ${killId} down ${downAfter} ms after the click`);
  if (killArg === "leader") {
    const electedAfter = await b.waitFor(
      "a new leader",
      `(() => { const r = document.querySelector('#nodes tr.leader[data-state="up"]'); return !!r && r.dataset.node !== "${killId}"; })()`,
      NEW_LEADER_WITHIN_MS,
    );
    const leader = await b.evaluate(`document.querySelector('#nodes tr.leader').dataset.node`);
    console.log(`table marks node ${leader} as the new leader ${electedAfter} ms later`);
  }
  const events = await b.evaluate(`[...document.querySelectorAll('#events li')].map(li => li.textContent).slice(0, 8)`);
  console.log(`event log: ${JSON.stringify(events)}`);
  await sleep(1500); // let a few more polls draw the plots
  await b.screenshot(screenshot);
});
