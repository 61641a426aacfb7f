// The dht and gossip panels in headless Chromium, for
// tests/dashboard_browser.rs:
//
//   node dashboard_panels.js CHROMIUM URL NODES dht|gossip|gossip-estimate SCREENSHOT.png [PROFILE_DIR]
//
// Loads URL and waits until the table shows NODES nodes up and the panel
// draws them: dht — NODES dots on the ring at distinct places, each
// labelled with its keys count (reports how many labels overlap); gossip — NODES dots, eager links that join
// every node into one graph, and a coverage plot showing a broadcast (sent
// before the page loaded) at all NODES nodes, timed by the beacon
// (gossip-estimate: by the page itself, for a cluster without a beacon).
// Prints what it saw as `seen: {json}`, saves a screenshot.
"use strict";
const { run, sleep } = require("./cdp.js");

const [chromium, url, nodesArg, service, screenshot, profile] = process.argv.slice(2);
const nodes = Number(nodesArg);
const WITHIN_MS = 30000;

run(chromium, profile, screenshot, 60000, async (b) => {
  await b.open(url);
  const upAfter = await b.waitFor(`${nodes} nodes up`, `document.querySelectorAll('#nodes tbody tr[data-state="up"]').length === ${nodes}`, WITHIN_MS);
  console.log(`table shows ${nodes} nodes up after ${upAfter} ms`);
  const dots = `document.querySelectorAll('#panel svg.ring circle.dot.up').length === ${nodes}`;
  await b.waitFor(`${nodes} dots on the ${service} panel`, dots, WITHIN_MS);
  let seen;
  if (service === "dht") {
    // Labels "ID (K keys)": every node's keys count drawn.
    await b.waitFor("a keys count per node", `[...document.querySelectorAll('#panel svg.ring text')].filter(t => /^\\d+ \\(\\d+ keys\\)$/.test(t.textContent)).length === ${nodes}`, WITHIN_MS);
    seen = await b.evaluate(`(() => {
      const dots = [...document.querySelectorAll('#panel svg.ring circle.dot')];
      return {
        dots: dots.length,
        places: new Set(dots.map(d => Math.round(d.getAttribute('cx')) + ',' + Math.round(d.getAttribute('cy')))).size,
        labels: [...document.querySelectorAll('#panel svg.ring text')].map(t => t.textContent),
        overlaps: (() => {
          const boxes = [...document.querySelectorAll('#panel svg.ring text')].map(t => t.getBoundingClientRect());
          let n = 0;
          boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
            if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) n++;
          }));
          return n;
        })(),
        roles: [...document.querySelectorAll('#nodes tbody tr')].map(r => r.children[3].textContent),
      };
    })()`);
  } else {
    await b.waitFor("eager links", `document.querySelectorAll('#panel svg.ring line.edge').length >= ${nodes - 1}`, WITHIN_MS);
    const source = service === "gossip-estimate" ? "estimate" : "beacon";
    const coveredAfter = await b.waitFor(
      `coverage of the broadcast at every node, timed by the ${source}`,
      `(() => { const c = document.querySelector('#coverage'); return !!c && c.dataset.nodes === "${nodes}" && c.dataset.source === "${source}"; })()`,
      WITHIN_MS,
    );
    console.log(`coverage plot shows ${nodes} nodes after ${coveredAfter} ms`);
    seen = await b.evaluate(`(() => {
      const ends = [...document.querySelectorAll('#panel svg.ring line.edge')].map(l => [l.getAttribute('x1') + ',' + l.getAttribute('y1'), l.getAttribute('x2') + ',' + l.getAttribute('y2')]);
      return {
        dots: document.querySelectorAll('#panel svg.ring circle.dot').length,
        edges: ends,
        dotPlaces: [...document.querySelectorAll('#panel svg.ring circle.dot')].map(d => d.getAttribute('cx') + ',' + d.getAttribute('cy')),
        coverage: document.querySelector('#coverage').dataset.nodes,
        summary: [...document.querySelectorAll('#panel p')].map(p => p.textContent).filter(t => t.startsWith('reached')),
        broadcasts: [...document.querySelectorAll('#broadcast option')].map(o => o.value),
        curve: document.querySelector('#coverage path.line')?.getAttribute('d') || null,
      };
    })()`);
  }
  console.log(`seen: ${JSON.stringify(seen)}`);
  await sleep(1000);
  await b.screenshot(screenshot);
});
