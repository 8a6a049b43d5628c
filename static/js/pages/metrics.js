// The admin metrics dashboard: a time range, summary cards, response-time / error-rate and
// requests / events charts, the endpoint table (sortable by every column), the event
// distribution and top pages. Data loads when the page opens, when the range changes and on
// Refresh — never on a timer. Non-admins get an explanation instead (the server would answer
// 403 ADMIN_REQUIRED anyway).

import { fn, h, pageHeader, errorAlert, formatNumber, formatMs, formatPercent, formatTime, uid } from "../ui.js";

const RANGES = [
  ["24h", "24 hours"],
  ["7d", "7 days"],
  ["30d", "30 days"],
  ["90d", "90 days"],
];

const COLUMNS = [
  { key: "endpoint", label: "Endpoint", text: true },
  { key: "method", label: "Method", text: true },
  { key: "request_count", label: "Requests", format: formatNumber },
  { key: "error_count", label: "Errors", format: formatNumber },
  { key: "error_rate", label: "Error rate", format: formatPercent },
  { key: "avg_response_time_ms", label: "Avg", format: formatMs },
  { key: "p50_response_time_ms", label: "P50", format: formatMs },
  { key: "p95_response_time_ms", label: "P95", format: formatMs },
  { key: "p99_response_time_ms", label: "P99", format: formatMs },
];

export async function render(root, { user, signal, tracker }) {
  if (!user || !user.is_admin) {
    root.append(
      pageHeader("Metrics"),
      h(
        "div",
        { class: "alert alert-info", role: "note", "data-testid": "metrics-not-admin" },
        h(
          "div",
          { class: "alert-text" },
          h("strong", {}, "Metrics are for administrators. "),
          user
            ? `You are signed in as ${user.user_name}, who is not in one of the app's admin groups (ADMIN_GROUPS, by default admins, workspace_admins or administrators). Ask a workspace admin if you need access.`
            : "You are not signed in, so the app cannot tell whether you are an administrator.",
        ),
      ),
    );
    return;
  }

  const chart = import("../chart.js"); // in parallel with the data
  let range = sessionStorage.getItem("brickbox.metrics.range") || "24h";
  if (!RANGES.some(([r]) => r === range)) range = "24h";
  const sort = { key: "avg_response_time_ms", dir: "desc" };
  let charts = [];
  let data = null;

  const refresh = h("button", { class: "btn", type: "button", "data-track-id": "refresh-button", "data-testid": "refresh-button" }, "Refresh");
  const rangeName = uid("range");
  const rangeGroup = h(
    "div",
    { class: "segmented", role: "radiogroup", "aria-label": "Time range", "data-track-id": "time-range-selector" },
    RANGES.flatMap(([value, label]) => {
      const id = `${rangeName}-${value}`;
      const input = h("input", { type: "radio", name: rangeName, id, value, checked: value === range });
      input.addEventListener("change", () => {
        if (!input.checked) return;
        tracker.track({ event_type: "preference_changed", element_id: "time-range-selector", metadata: { previous_time_range: range, new_time_range: value } });
        range = value;
        sessionStorage.setItem("brickbox.metrics.range", range);
        load();
      });
      return [input, h("label", { for: id, title: `Last ${label}` }, value)];
    }),
  );
  const updated = h("span", { class: "muted small", "aria-live": "polite" });
  root.append(pageHeader("Application metrics", "Requests, latency and usage of this app.", updated, rangeGroup, refresh));
  const body = h("div", { class: "stack", "data-testid": "metrics-body" });
  root.append(body);

  refresh.addEventListener("click", () => {
    tracker.track({ event_type: "click", element_id: "metrics-refresh", metadata: { time_range: range, action: "manual_refresh" } });
    load();
  });

  async function load() {
    const mine = range;
    refresh.disabled = true;
    refresh.textContent = "Refreshing…";
    root.dataset.state = "loading";
    if (!data) {
      body.replaceChildren(
        h("p", { class: "muted", role: "status" }, "Loading metrics…"),
        h("div", { class: "stats" }, [1, 2, 3, 4].map(() => h("div", { class: "skeleton block" }))),
      );
    } else body.setAttribute("aria-busy", "true");
    try {
      const [perf, usage, series, chartModule] = await Promise.all([
        fn("metricsPerformance")({ time_range: mine }, { signal }),
        fn("metricsUsage")({ time_range: mine }, { signal }),
        fn("metricsTimeSeries")({ time_range: mine, metric_type: "both" }, { signal }),
        chart,
      ]);
      if (mine !== range) return; // a newer range is loading
      data = { perf, usage, series };
      draw(chartModule);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      root.dataset.state = isEmpty(data) ? "empty" : "ready";
      performance.mark("brickbox:metrics-rendered");
    } catch (error) {
      if (error.name === "AbortError" || mine !== range) return;
      data = null;
      destroyCharts();
      root.dataset.state = "error";
      const title = error.status === 403 ? "Admin access required" : "Could not load metrics";
      body.replaceChildren(errorAlert(error, { title, onRetry: load }));
    } finally {
      if (mine === range) {
        refresh.disabled = false;
        refresh.textContent = "Refresh";
        body.removeAttribute("aria-busy");
      }
    }
  }

  function destroyCharts() {
    for (const c of charts) c.destroy();
    charts = [];
  }

  function draw({ lineChart, formatTime: chartTime }) {
    destroyCharts();
    const { perf, usage, series } = data;
    if (isEmpty(data)) {
      const again = h("button", { class: "btn btn-small", type: "button", on: { click: load } }, "Refresh");
      body.replaceChildren(
        h(
          "div",
          { class: "card empty", "data-testid": "metrics-empty" },
          h("h2", {}, "No data for the last ", RANGES.find(([r]) => r === range)[1]),
          h("p", {}, "Metrics appear here once the app has been used: every API request and usage event is recorded."),
          again,
        ),
      );
      return;
    }
    const m = perf.metrics;
    const u = usage.metrics;
    const points = series.data_points || [];
    const interval = series.interval;

    const cards = h(
      "div",
      { class: "stats", "data-testid": "summary-cards" },
      stat("Total requests", formatNumber(m.total_requests)),
      stat("Error rate", formatPercent(m.error_rate), m.error_rate > 0.05),
      stat("Avg response", formatMs(m.avg_response_time_ms)),
      stat("P50 response", formatMs(m.p50_response_time_ms)),
      stat("P95 response", formatMs(m.p95_response_time_ms)),
      stat("P99 response", formatMs(m.p99_response_time_ms)),
      stat("Active users", formatNumber(u.active_users)),
      stat("Active this hour", formatNumber(u.active_users_current_hour)),
      stat("Usage events", formatNumber(u.total_events)),
      stat("Unique users", formatNumber(u.unique_users)),
      stat("Success rate", u.success_rate === null ? "–" : formatPercent(u.success_rate)),
    );

    const latency = lineChart({
      title: `Response time and error rate, last ${range}`,
      points,
      interval,
      series: [
        { key: "avg_response_time_ms", label: "Average", cls: "s1", format: formatMs },
        { key: "p95_response_time_ms", label: "P95", cls: "s4", format: formatMs },
        { key: "error_rate", label: "Error rate", cls: "s2", axis: "right", dashed: true, format: formatPercent },
      ],
      left: { title: "ms", format: (v) => formatNumber(Math.round(v)) },
      right: { title: "errors", format: (v) => `${Math.round(v * 1000) / 10}%` },
      summary: latencySummary(points, interval, chartTime),
    });
    const traffic = lineChart({
      title: `Requests and usage events, last ${range}`,
      points,
      interval,
      series: [
        { key: "total_requests", label: "Requests", cls: "s1", format: formatNumber },
        { key: "total_events", label: "Usage events", cls: "s3", dashed: true, format: formatNumber },
      ],
      left: { title: "count", format: (v) => formatNumber(Math.round(v * 100) / 100) },
      summary: trafficSummary(points, interval, chartTime),
    });
    charts = [latency, traffic];

    body.replaceChildren(
      cards,
      h(
        "div",
        { class: "charts" },
        h("section", { class: "card", "aria-labelledby": "chart-latency", "data-testid": "chart-latency" }, h("h2", { id: "chart-latency" }, "Response time and error rate"), latency.root),
        h("section", { class: "card", "aria-labelledby": "chart-traffic", "data-testid": "chart-traffic" }, h("h2", { id: "chart-traffic" }, "Requests and usage events"), traffic.root),
      ),
      endpointTable(perf.endpoints || []),
      h(
        "div",
        { class: "grid" },
        barCard("Event distribution", "event-distribution", usage.event_distribution, "No usage events in this range."),
        barCard("Top pages", "top-pages", usage.page_views, "No page views in this range.", 10),
      ),
      h("p", { class: "muted small" }, `Range ${formatTime(perf.start_time)} – ${formatTime(perf.end_time)}. Active users count people seen in API requests or usage events, each once.`),
    );
  }

  function endpointTable(endpoints) {
    const card = h("section", { class: "card", "aria-labelledby": "ep-table-heading", "data-testid": "endpoint-table" }, h("h2", { id: "ep-table-heading" }, "Endpoints"));
    if (!endpoints.length) {
      card.append(h("p", { class: "empty" }, "No API requests in this range."));
      return card;
    }
    const tbody = h("tbody");
    const headers = COLUMNS.map((c) => {
      const button = h("button", { class: "sort", type: "button", "data-track-id": `sort-${c.key}` }, c.label, h("span", { class: "arrow", "aria-hidden": "true" }));
      const th = h("th", { scope: "col", class: c.text ? null : "num", dataset: { key: c.key } }, button);
      button.addEventListener("click", () => {
        if (sort.key === c.key) sort.dir = sort.dir === "asc" ? "desc" : "asc";
        else {
          sort.key = c.key;
          sort.dir = c.text ? "asc" : "desc";
        }
        fill();
      });
      return th;
    });
    function fill() {
      for (const th of headers) {
        const active = th.dataset.key === sort.key;
        th.setAttribute("aria-sort", active ? (sort.dir === "asc" ? "ascending" : "descending") : "none");
        th.querySelector(".arrow").textContent = active ? (sort.dir === "asc" ? "▲" : "▼") : "↕";
      }
      const sorted = [...endpoints].sort((a, b) => compare(a[sort.key], b[sort.key]) * (sort.dir === "asc" ? 1 : -1));
      tbody.replaceChildren(...sorted.map((row) => h("tr", {}, COLUMNS.map((c) => h("td", { class: c.text ? (c.key === "endpoint" ? "mono" : null) : "num" }, c.text ? row[c.key] : c.format(row[c.key]))))));
    }
    fill();
    card.append(
      h(
        "div",
        { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Requests per endpoint" },
        h("table", { class: "data" }, h("caption", { class: "visually-hidden" }, "Requests per endpoint; the column buttons sort the table"), h("thead", {}, h("tr", {}, headers)), tbody),
      ),
      h("p", { class: "muted small" }, `${endpoints.length} endpoint${endpoints.length === 1 ? "" : "s"}.`),
    );
    return card;
  }

  await load();
  return destroyCharts;
}

function isEmpty({ perf, usage }) {
  return !(perf && perf.metrics && perf.metrics.total_requests) && !(usage && usage.metrics && usage.metrics.total_events);
}

function stat(label, value, bad = false) {
  return h("div", { class: "stat" }, h("div", { class: "label" }, label), h("div", { class: `value${bad ? " bad" : ""}` }, value));
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

function barCard(title, testId, counts, emptyText, limit = 20) {
  const id = uid("bars");
  const card = h("section", { class: "card", "aria-labelledby": id, "data-testid": testId }, h("h2", { id }, title));
  const entries = Object.entries(counts || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (!entries.length) {
    card.append(h("p", { class: "empty" }, emptyText));
    return card;
  }
  const max = entries[0][1] || 1;
  const total = entries.reduce((s, [, n]) => s + n, 0);
  card.append(
    h(
      "ul",
      { class: "bar-list" },
      entries.slice(0, limit).map(([name, n]) => {
        const bar = h("div", { class: "bar" });
        bar.style.width = `${(n / max) * 100}%`; // CSSOM: allowed by the CSP
        return h(
          "li",
          {},
          h("span", { class: "bar-label", title: name }, name),
          h("div", { class: "bar-track", "aria-hidden": "true" }, bar),
          h("span", { class: "bar-value" }, `${formatNumber(n)} (${Math.round((n / total) * 100)}%)`),
        );
      }),
    ),
  );
  if (entries.length > limit) card.append(h("p", { class: "muted small" }, `and ${entries.length - limit} more.`));
  return card;
}

function peak(points, key) {
  let best = null;
  for (const p of points) if (typeof p[key] === "number" && (best === null || p[key] > best[key])) best = p;
  return best;
}

function latencySummary(points, interval, chartTime) {
  const withData = points.filter((p) => p.total_requests > 0);
  if (!withData.length) return "No API requests in this range, so there is no response time to show.";
  const avg = withData.reduce((s, p) => s + p.avg_response_time_ms * p.total_requests, 0) / withData.reduce((s, p) => s + p.total_requests, 0);
  const p95 = peak(withData, "p95_response_time_ms");
  const err = peak(withData, "error_rate");
  return `${points.length} ${interval === "day" ? "days" : "hours"}, ${withData.length} with requests. Average response time ${formatMs(avg)}; the highest P95 was ${formatMs(p95.p95_response_time_ms)} (${chartTime(p95.timestamp, interval, true)}); the highest error rate was ${formatPercent(err.error_rate)} (${chartTime(err.timestamp, interval, true)}).`;
}

function trafficSummary(points, interval, chartTime) {
  const sum = (k) => points.reduce((s, p) => s + (p[k] || 0), 0);
  const busiest = peak(points, "total_requests");
  const requests = sum("total_requests");
  const events = sum("total_events");
  if (!requests && !events) return "No requests or usage events in this range.";
  return `${formatNumber(requests)} requests and ${formatNumber(events)} usage events over ${points.length} ${interval === "day" ? "days" : "hours"}; the busiest ${interval === "day" ? "day" : "hour"} had ${formatNumber(busiest ? busiest.total_requests : 0)} requests (${busiest ? chartTime(busiest.timestamp, interval, true) : "–"}).`;
}
