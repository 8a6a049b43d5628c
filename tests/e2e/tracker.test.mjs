// Unit tests of the usage tracker (static/js/tracker.js) under node's test runner with mocked
// timers: batching at 20, the 10 s timer from the first queued event, 3 tries at 1 s then 2 s,
// no retry for client errors, and page hide beaconing the queue and a batch waiting to retry.
// Run by tests/e2e.rs (`node --test tests/e2e/`).

import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { UsageTracker } from "../../static/js/tracker.js";

function setup({ fail = [] } = {}) {
  const sent = [];
  const beacons = [];
  let calls = 0;
  const tracker = new UsageTracker({
    send: async (events) => {
      const outcome = fail[calls];
      calls += 1;
      if (outcome) throw outcome;
      sent.push(events);
    },
    beacon: (payload) => {
      beacons.push(payload.events);
      return true;
    },
    pageName: () => "/test",
  });
  return { tracker, sent, beacons, calls: () => calls };
}

const flushPromises = () => new Promise((resolve) => setImmediate(resolve));
const serverError = Object.assign(new Error("down"), { status: 503, error_code: "SERVICE_UNAVAILABLE" });

test("the 20th event sends a batch at once, in the documented event shape", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { tracker, sent } = setup();
    for (let i = 0; i < 19; i += 1) tracker.track({ event_type: "click", element_id: `b${i}` });
    await flushPromises();
    assert.equal(sent.length, 0);
    tracker.track({ event_type: "click", element_id: "b19", success: true, metadata: { a: 1 } });
    await flushPromises();
    assert.equal(sent.length, 1);
    assert.equal(sent[0].length, 20);
    const last = sent[0][19];
    assert.deepEqual(Object.keys(last).sort(), ["element_id", "event_type", "metadata", "page_name", "success", "timestamp"]);
    assert.equal(last.page_name, "/test");
    assert.match(last.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(sent[0][0].success, null);
  } finally {
    mock.timers.reset();
  }
});

test("a lone event leaves 10 s after it was queued, and the next one re-arms the timer", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { tracker, sent } = setup();
    tracker.track({ event_type: "page_view" });
    mock.timers.tick(5000);
    tracker.track({ event_type: "click" }); // does not push the deadline back
    mock.timers.tick(4999);
    await flushPromises();
    assert.equal(sent.length, 0);
    mock.timers.tick(1);
    await flushPromises();
    assert.equal(sent.length, 1);
    assert.equal(sent[0].length, 2);
    tracker.track({ event_type: "click" });
    mock.timers.tick(10_000);
    await flushPromises();
    assert.equal(sent.length, 2, "an idle tracker flushes again for the next event");
  } finally {
    mock.timers.reset();
  }
});

test("a failed batch is tried 3 times, 1 s then 2 s apart, then dropped", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  const warn = mock.method(console, "warn", () => {});
  try {
    const { tracker, sent, calls } = setup({ fail: [serverError, serverError, serverError] });
    for (let i = 0; i < 20; i += 1) tracker.track({ event_type: "click" });
    await flushPromises();
    assert.equal(calls(), 1);
    mock.timers.tick(999);
    await flushPromises();
    assert.equal(calls(), 1);
    mock.timers.tick(1);
    await flushPromises();
    assert.equal(calls(), 2);
    mock.timers.tick(1999);
    await flushPromises();
    assert.equal(calls(), 2);
    mock.timers.tick(1);
    await flushPromises();
    assert.equal(calls(), 3);
    mock.timers.tick(10_000);
    await flushPromises();
    assert.equal(calls(), 3, "no fourth try");
    assert.equal(sent.length, 0);
    assert.equal(tracker.stats.dropped, 20);
  } finally {
    warn.mock.restore();
    mock.timers.reset();
  }
});

test("a retry that succeeds delivers the batch; a 422 is not retried", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  const warn = mock.method(console, "warn", () => {});
  try {
    const ok = setup({ fail: [serverError] });
    for (let i = 0; i < 20; i += 1) ok.tracker.track({ event_type: "click" });
    await flushPromises();
    mock.timers.tick(1000);
    await flushPromises();
    assert.equal(ok.sent.length, 1);

    const invalid = Object.assign(new Error("bad"), { status: 422, error_code: "VALIDATION_FAILED" });
    const bad = setup({ fail: [invalid] });
    for (let i = 0; i < 20; i += 1) bad.tracker.track({ event_type: "click" });
    await flushPromises();
    mock.timers.tick(5000);
    await flushPromises();
    assert.equal(bad.calls(), 1);
  } finally {
    warn.mock.restore();
    mock.timers.reset();
  }
});

test("page hide beacons the queue and the batch waiting for a retry, once", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { tracker, sent, beacons, calls } = setup({ fail: [serverError] });
    for (let i = 0; i < 20; i += 1) tracker.track({ event_type: "click", element_id: `first${i}` });
    await flushPromises();
    assert.equal(calls(), 1); // failed; waiting 1 s
    tracker.track({ event_type: "click", element_id: "late" });
    tracker.flushWithBeacon();
    assert.equal(beacons.length, 1);
    assert.equal(beacons[0].length, 21);
    assert.equal(beacons[0][20].element_id, "late");
    mock.timers.tick(10_000);
    await flushPromises();
    assert.equal(calls(), 1, "the beaconed batch is not retried");
    assert.equal(sent.length, 0);
    tracker.flushWithBeacon();
    assert.equal(beacons.length, 1, "nothing left to send");
  } finally {
    mock.timers.reset();
  }
});

test("without a database the tracker stops collecting", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  const warn = mock.method(console, "warn", () => {});
  try {
    const unconfigured = Object.assign(new Error("no db"), { status: 503, error_code: "LAKEBASE_NOT_CONFIGURED" });
    const { tracker, calls } = setup({ fail: [unconfigured] });
    for (let i = 0; i < 20; i += 1) tracker.track({ event_type: "click" });
    await flushPromises();
    mock.timers.tick(5000);
    await flushPromises();
    assert.equal(calls(), 1);
    tracker.track({ event_type: "click" });
    assert.equal(tracker.queue.length, 0);
  } finally {
    warn.mock.restore();
    mock.timers.reset();
  }
});
