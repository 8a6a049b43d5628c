// The usage tracker: queues events and sends them in batches to
// POST /api/v1/metrics/usage-events — at 20 queued events, or 10 s after the first event of a
// batch was queued — with 3 tries (waiting 1 s, then 2 s). When the page is hidden or left,
// whatever is still queued (or waiting for a retry) goes out with navigator.sendBeacon as a
// text/plain body, because a fetch may not finish once the page is gone.
//
// Unlike the seed's tracker, the send function is the generated client's, so batches really
// arrive; the idle timer is re-armed by the next event, so nothing waits for a 20th event; and
// errors that a retry cannot fix (4xx other than 429) drop the batch at once.

export const MAX_BATCH = 20;
export const FLUSH_DELAY_MS = 10_000;
export const RETRY_DELAYS_MS = [1000, 2000];
/** The server refuses batches above 1000 events. */
const SERVER_MAX_EVENTS = 1000;
/** sendBeacon refuses bodies over ~64 KiB; stay below. */
const BEACON_MAX_BYTES = 60_000;

export class UsageTracker {
  /**
   * @param {object} o
   * @param {(events: object[]) => Promise<unknown>} o.send  delivers one batch (rejects on failure)
   * @param {(payload: object) => boolean} o.beacon  queues {events} with sendBeacon
   * @param {() => string} o.pageName  the current page, e.g. "/catalog"
   */
  constructor({ send, beacon, pageName, maxBatch = MAX_BATCH, flushDelayMs = FLUSH_DELAY_MS, retryDelaysMs = RETRY_DELAYS_MS }) {
    this.send = send;
    this.beaconFn = beacon;
    this.pageName = pageName;
    this.maxBatch = maxBatch;
    this.flushDelayMs = flushDelayMs;
    this.retryDelaysMs = retryDelaysMs;
    this.queue = [];
    this.timer = null;
    this.flushing = false;
    /** The batch waiting between tries, so page hide can beacon it instead. */
    this.pending = null;
    this.disabled = false;
    this.stats = { sent: 0, beaconed: 0, dropped: 0 };
  }

  /** Listen for page views (hash changes), clicks on [data-track-id] and page hide. */
  install(win = window) {
    win.document.addEventListener(
      "click",
      (event) => {
        const el = event.target instanceof Element ? event.target.closest("[data-track-id]") : null;
        if (el) this.track({ event_type: "click", element_id: el.getAttribute("data-track-id").slice(0, 255) });
      },
      { capture: true },
    );
    win.document.addEventListener("visibilitychange", () => {
      if (win.document.visibilityState === "hidden") this.flushWithBeacon();
    });
    win.addEventListener("pagehide", () => this.flushWithBeacon());
  }

  /** Queue one event: {event_type, page_name?, element_id?, success?, metadata?}. */
  track(event) {
    if (this.disabled) return;
    this.queue.push({
      event_type: event.event_type,
      page_name: event.page_name ?? this.pageName(),
      element_id: event.element_id ?? null,
      success: event.success ?? null,
      metadata: event.metadata ?? null,
      timestamp: new Date().toISOString(),
    });
    if (this.queue.length >= this.maxBatch) {
      this.flush();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.flushDelayMs);
    }
  }

  pageView(pageName, metadata) {
    this.track({ event_type: "page_view", page_name: pageName, metadata });
  }

  /** Send the queue now (one batch at a time; what arrives meanwhile waits for the next). */
  async flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.flushing || this.queue.length === 0 || this.disabled) return;
    this.flushing = true;
    const batch = this.queue.splice(0, SERVER_MAX_EVENTS);
    try {
      await this.deliver(batch);
    } finally {
      this.flushing = false;
    }
    if (this.queue.length >= this.maxBatch) this.flush();
    else if (this.queue.length > 0 && this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.flushDelayMs);
    }
  }

  async deliver(batch) {
    const attempt = { batch, taken: false };
    for (let i = 0; ; i += 1) {
      try {
        await this.send(batch);
        this.stats.sent += batch.length;
        return;
      } catch (error) {
        const status = error && error.status;
        if (error && error.error_code === "LAKEBASE_NOT_CONFIGURED") {
          // Nowhere to store events on this deployment: stop collecting for this page load.
          this.disabled = true;
          this.queue = [];
        }
        const permanent = this.disabled || error.error_code === "FUNCTION_MISSING" || (status >= 400 && status < 500 && status !== 429);
        if (permanent || i >= this.retryDelaysMs.length) {
          this.stats.dropped += batch.length;
          console.warn(`usage tracker: dropped ${batch.length} event(s) after ${i + 1} tr${i ? "ies" : "y"}: ${error && error.message}`);
          return;
        }
        this.pending = attempt;
        await new Promise((resolve) => setTimeout(resolve, this.retryDelaysMs[i]));
        this.pending = null;
        // Page hide sent it with a beacon while we waited.
        if (attempt.taken) return;
      }
    }
  }

  /** Page hide: beacon the queue and any batch waiting for a retry. */
  flushWithBeacon() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.disabled) return;
    const events = this.queue.splice(0);
    if (this.pending && !this.pending.taken) {
      this.pending.taken = true;
      events.unshift(...this.pending.batch);
    }
    if (events.length === 0) return;
    for (const chunk of chunks(events)) {
      let queued = false;
      try {
        queued = this.beaconFn({ events: chunk });
      } catch (error) {
        console.warn(`usage tracker: beacon failed: ${error.message}`);
      }
      if (queued) this.stats.beaconed += chunk.length;
      else this.stats.dropped += chunk.length;
    }
  }
}

/** Split events into batches the server and sendBeacon both accept. */
function chunks(events) {
  const out = [];
  let current = [];
  let size = 20;
  for (const event of events) {
    const bytes = JSON.stringify(event).length + 1;
    if (current.length && (current.length >= SERVER_MAX_EVENTS || size + bytes > BEACON_MAX_BYTES)) {
      out.push(current);
      current = [];
      size = 20;
    }
    current.push(event);
    size += bytes;
  }
  if (current.length) out.push(current);
  return out;
}
