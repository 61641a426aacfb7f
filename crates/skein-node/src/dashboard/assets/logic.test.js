// Unit tests of logic.js, for `node --test` (Node 18+); not served to browsers.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const L = require("./logic.js");

test("parsePrometheus reads names, labels and values, skipping comments and junk", () => {
  const text = [
    "# HELP skein_messages_sent Protocol messages",
    "# TYPE skein_messages_sent counter",
    'skein_messages_sent_total{peer="1",channel="tcp"} 5',
    'skein_messages_sent_total{peer="2",channel="udp"} 7',
    "skein_uptime_seconds 12",
    'weird_label{a="x\\"y"} 1',
    "not a metric line",
    "skein_bad NaNish",
  ].join("\n");
  const m = L.parsePrometheus(text);
  assert.equal(m.get("skein_messages_sent_total").length, 2);
  assert.deepEqual(m.get("skein_messages_sent_total")[1].labels, { peer: "2", channel: "udp" });
  assert.equal(m.get("skein_uptime_seconds")[0].value, 12);
  assert.equal(m.get("weird_label")[0].labels.a, 'x\\"y');
  assert.equal(m.has("skein_bad"), false);
  assert.equal(L.sumMetric(m, "skein_messages_sent_total"), 12);
  assert.equal(L.sumMetric(m, "skein_messages_sent_total", { channel: "tcp" }), 5);
  assert.equal(L.sumMetric(m, "missing"), null);
});

test("counterRate is null across a restart (counter reset) and for unknown samples", () => {
  assert.equal(L.counterRate(10, 30, 2), 10);
  assert.equal(L.counterRate(30, 10, 2), null);
  assert.equal(L.counterRate(null, 10, 2), null);
  assert.equal(L.counterRate(1, 2, 0), null);
});

test("pushBounded keeps the newest points only", () => {
  const list = [];
  for (let i = 0; i < 10; i++) L.pushBounded(list, i, 4);
  assert.deepEqual(list, [6, 7, 8, 9]);
});

test("describeNode reads raft, bftlist and heartbeat statuses, and any other generically", () => {
  const raft = L.describeNode("raft", { role: "Leader", term: 3, commit_index: 9, applied_index: 8, leader: 2 }, 2);
  assert.deepEqual(raft, { role: "leader", term: 3, progress: "commit 9 · applied 8", leader: 2 });
  const primary = L.describeNode("bftlist", { view: 1, phase: 0, primary: 2, last_exec: 4, byzantine: null }, 2);
  assert.equal(primary.role, "primary");
  assert.equal(primary.leader, 2);
  const byz = L.describeNode("bftlist", { view: 1, phase: 1, primary: 2, last_exec: 4, byzantine: "different-views" }, 3);
  assert.equal(byz.role, "byzantine (different-views)");
  assert.equal(L.describeNode("heartbeat", { incarnation: 2, seq: 40 }, 1).progress, "seq 40");
  const other = L.describeNode("novel", { alpha: 1, beta: [1, 2], gamma: { x: 1 }, delta: 4 }, 1);
  assert.equal(other.role, "novel");
  assert.equal(other.progress, "alpha: 1 · beta: [2] · gamma: {…}");
});

test("listAgreement: prefixes agree, a different entry diverges", () => {
  assert.deepEqual(L.listAgreement({ 1: [1, 2, 3], 2: [1, 2], 3: [1, 2, 3] }), { agree: true, longest: 3, behind: [2], diverged: [] });
  const bad = L.listAgreement({ 1: [1, 2, 3], 2: [1, 9], 3: [] });
  assert.equal(bad.agree, false);
  assert.deepEqual(bad.diverged, [2]);
  assert.deepEqual(bad.behind, [3]);
  assert.equal(L.listAgreement({}).agree, true);
});

test("diffSnapshots reports state changes and a new leader", () => {
  const a = { nodes: { 1: { state: "up" }, 2: { state: "up" } }, leader: 1, leaderWord: "leader" };
  const b = { nodes: { 1: { state: "down" }, 2: { state: "up" } }, leader: null, leaderWord: "leader" };
  const c = { nodes: { 1: { state: "down" }, 2: { state: "up" } }, leader: 2, leaderWord: "leader" };
  assert.deepEqual(L.diffSnapshots(null, a), []);
  assert.deepEqual(L.diffSnapshots(a, b), ["node 1 is down (was up)", "no leader"]);
  assert.deepEqual(L.diffSnapshots(b, c), ["leader is now node 2"]);
  assert.deepEqual(L.diffSnapshots(a, c), ["node 1 is down (was up)", "leader is now node 2 (was 1)"]);
});

test("majorityLeader picks the leader most nodes name", () => {
  assert.equal(L.majorityLeader([{ leader: 2 }, { leader: 2 }, { leader: 3 }, { leader: null }]), 2);
  assert.equal(L.majorityLeader([{ leader: null }]), null);
});

test("ringAngle spreads keys around the circle starting at the top", () => {
  assert.equal(L.ringAngle("00000000"), -Math.PI / 2);
  assert.ok(Math.abs(L.ringAngle("0x80000000") - Math.PI / 2) < 1e-9);
  assert.ok(L.ringAngle("ffffffff") < (3 * Math.PI) / 2);
});

test("niceMax rounds up to 1, 2 or 5 times a power of ten", () => {
  assert.equal(L.niceMax([]), 1);
  assert.equal(L.niceMax([0.3]), 0.5);
  assert.equal(L.niceMax([7, null, 3]), 10);
  assert.equal(L.niceMax([120]), 200);
});

test("ago formats durations", () => {
  assert.equal(L.ago(null), "never");
  assert.equal(L.ago(250), "250 ms ago");
  assert.equal(L.ago(2500), "2.5 s ago");
  assert.equal(L.ago(600000), "10 min ago");
});

test("describeNode reads dht and gossip statuses", () => {
  const dht = L.describeNode("dht", { node: { id: 2, ring: "9f3a00112233" }, state: "joined", keys: 12 }, 2);
  assert.deepEqual(dht, { role: "ring 9f3a0011…", term: "joined", progress: "keys 12", leader: null });
  // How a real node's status carries its ring id: 20 bytes.
  const bytes = L.describeNode("dht", { node: { id: 2, ring: [0x9f, 0x3a, 0, 0x11, 0x22, ...new Array(15).fill(0)] }, state: "joined", keys: 0 }, 2);
  assert.equal(bytes.role, "ring 9f3a0011…");
  const gossip = L.describeNode("gossip", { incarnation: 1, joined: true, left: false, eager_peers: [1, 3], delivered: 7 }, 2);
  assert.deepEqual(gossip, { role: "member", term: "incarnation 1", progress: "delivered 7 · eager [1,3]", leader: null });
});

test("peerEdges makes each link once, whichever side lists it", () => {
  assert.deepEqual(L.peerEdges({ 1: [2, 3], 2: [1], 3: [3] }), [{ a: 1, b: 2 }, { a: 1, b: 3 }]);
});

test("ringAngle reads a ring id as the status serializes it: big-endian bytes", () => {
  assert.equal(L.ringAngle(new Array(20).fill(0)), -Math.PI / 2);
  const half = [0x80, ...new Array(19).fill(0)];
  assert.ok(Math.abs(L.ringAngle(half) - Math.PI / 2) < 1e-9);
  assert.equal(L.ringAngle([0x12, 0x34, 0x56, 0x78, 9, 9]), L.ringAngle("12345678"));
});

test("messagesQuery asks for the newest page first, then only what is new", () => {
  assert.deepEqual(L.messagesQuery(null, 100), { after: 100 - L.MESSAGES_PAGE, query: `?after=${100 - L.MESSAGES_PAGE}&limit=${L.MESSAGES_PAGE}` });
  assert.equal(L.messagesQuery(null, 3).after, 0);
  assert.equal(L.messagesQuery(90, 100).after, 90);
  // Fewer deliveries than already read: another process on that address, start over.
  assert.equal(L.messagesQuery(90, 5).after, 0);
});

test("recordDeliveries times each node's delivery on the page's clock and keeps the newest broadcasts", () => {
  const broadcasts = new Map();
  // Node 1 was read at page time 10000 after 4000 ms up: it started at 6000.
  const c1 = L.recordDeliveries(broadcasts, 1, { messages: [{ seq: 7, id: "aa", origin: 1, payload: "hi", hops: 0, delivered_ms: 3000 }], next_after: 7 }, 10000, 4000);
  // Node 2 started at 8500: delivered 'aa' at 9012, 12 ms after node 1.
  const c2 = L.recordDeliveries(broadcasts, 2, { messages: [{ seq: 2, id: "aa", origin: 1, payload: "hi", hops: 1, delivered_ms: 512 }], next_after: 2 }, 10100, 1600);
  assert.deepEqual([c1, c2], [7, 2]);
  const aa = broadcasts.get("aa");
  assert.deepEqual(aa.deliveries, { 1: { at: 9000, hops: 0 }, 2: { at: 9012, hops: 1 } });
  assert.equal(L.broadcastStart(aa), 9000);
  assert.deepEqual(L.estimatedCoverage(aa), [[0, 1], [12, 2]]);
  // A node's second report of the same message does not move its time.
  L.recordDeliveries(broadcasts, 2, { messages: [{ seq: 2, id: "aa", hops: 1, delivered_ms: 900 }] }, 10100, 1600);
  assert.equal(broadcasts.get("aa").deliveries[2].at, 9012);
  // An empty page keeps the cursor where the node said.
  assert.equal(L.recordDeliveries(broadcasts, 3, { messages: [], next_after: 40 }, 0, 0), 40);
  // Bounded: the oldest broadcast goes first.
  for (let i = 0; i < 3; i++) {
    L.recordDeliveries(broadcasts, 1, { messages: [{ seq: 10 + i, id: `b${i}`, origin: 1, hops: 0, delivered_ms: 5000 + i }] }, 10000, 4000, 2);
  }
  assert.deepEqual(L.newestBroadcasts(broadcasts).map((b) => b.id), ["b2", "b1"]);
});

test("coverage curves count nodes over time from the first delivery", () => {
  assert.deepEqual(L.coverageCurve([]), []);
  assert.deepEqual(L.coverageCurve([30, 10, NaN, 10, 45]), [[0, 1], [0, 2], [20, 3], [35, 4]]);
  const trace = { id: "00000000000000aa", nodes: 3, reports: [[1, 0, 0], [4, 3, 1], [2, 9, 2]] };
  assert.deepEqual(L.traceCoverage(trace), [[0, 1], [3, 2], [9, 3]]);
  assert.deepEqual(L.traceCoverage({ error: "not a beacon" }), []);
  assert.equal(L.coverageSummary(L.traceCoverage(trace), 5), "reached 3 of 5 nodes in 9 ms");
  assert.equal(L.coverageSummary([], 5), "no deliveries seen yet");
});

test("spreadAngles keeps far labels in place and pushes close ones apart", () => {
  const near = (a, b) => Math.abs(a - b) < 1e-9;
  assert.deepEqual(L.spreadAngles([], 0.3), []);
  assert.deepEqual(L.spreadAngles([1], 0.3), [1]);
  const apart = [0, 2, 4];
  L.spreadAngles(apart, 0.3).forEach((a, i) => assert.ok(near(a, apart[i])));
  // Two labels 0.1 apart end 0.3 apart, in the same order.
  const [a, b, c] = L.spreadAngles([1.0, 1.1, 4.0], 0.3);
  assert.ok(near(b - a, 0.3) && a <= 1.0 + 1e-9 && near(c, 4.0), `${a} ${b} ${c}`);
  // Close pairs across the top (where angles wrap) too, in the caller's turn of the circle.
  const wrapped = L.spreadAngles([-Math.PI / 2 - 0.05, 3 * Math.PI / 2 + 0.05 - 2 * Math.PI + 2 * Math.PI], 0.3);
  const gap = (((wrapped[1] - wrapped[0]) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI);
  assert.ok(gap >= 0.3 - 1e-9, `gap ${gap}`);
  // More labels than fit: evenly spaced instead.
  const many = L.spreadAngles(new Array(8).fill(0.5), 1.0).slice().sort((x, y) => x - y);
  for (let i = 1; i < 8; i++) assert.ok(near(many[i] - many[i - 1], (2 * Math.PI) / 8));
});
