// A small responsive SVG line chart, written for this UI instead of pulling in a charting
// library: the dashboard needs time-series lines on one or two y axes, a tooltip, a legend and a
// text summary, which is about 250 lines here versus 50–200 KB for a general library (and most
// libraries set inline styles, which our CSP blocks).
//
// The chart is redrawn at its real width (ResizeObserver), so text is never scaled. Points are
// evenly spaced (the time series is zero-filled, one point per interval); null values leave a
// gap. The tooltip follows the pointer and the keyboard (focus the chart, then ←/→/Home/End).
// The summary paragraph, which callers write, is the chart's accessible description.

import { h, svg, uid } from "./ui.js";

const HEIGHT = 260;
const MARGIN = { top: 26, right: 56, bottom: 34, left: 60 };

/**
 * @param {object} o
 * @param {string} o.title  accessible name of the chart
 * @param {object[]} o.points  rows with a `timestamp` and one field per series key
 * @param {{key: string, label: string, cls: string, axis?: "left"|"right", dashed?: boolean, format: (v: number) => string}[]} o.series
 * @param {{title: string, format: (v: number) => string}} o.left
 * @param {{title: string, format: (v: number) => string}} [o.right]
 * @param {"hour"|"day"} o.interval
 * @param {string} o.summary  text description of what the chart shows
 * @returns {{root: HTMLElement, destroy: () => void}}
 */
export function lineChart(o) {
  const summaryId = uid("chart-summary");
  const legend = h(
    "ul",
    { class: "legend", "aria-hidden": "true" },
    o.series.map((s) =>
      h(
        "li",
        {},
        svgLegend(s),
        `${s.label}${o.right ? (s.axis === "right" ? " (right axis)" : " (left axis)") : ""}`,
      ),
    ),
  );
  const plot = svg("svg", {
    role: "img",
    "aria-label": o.title,
    "aria-describedby": summaryId,
    tabindex: "0",
    focusable: "true",
  });
  const tooltip = h("div", { class: "tooltip", hidden: true });
  const summary = h("p", { class: "chart-summary", id: summaryId }, o.summary);
  const root = h("div", { class: "chart" }, legend, plot, tooltip, summary);

  let width = 0;
  let active = -1;
  let geometry = null;

  function draw() {
    const w = Math.max(280, Math.floor(root.clientWidth || 600));
    if (w === width && geometry) return;
    width = w;
    plot.setAttribute("viewBox", `0 0 ${w} ${HEIGHT}`);
    plot.replaceChildren();
    geometry = layout(o, w);
    drawAxes(plot, o, geometry);
    for (const s of o.series) drawLine(plot, o.points, s, geometry);
    geometry.overlay = svg("g");
    plot.append(geometry.overlay);
    if (active >= 0) show(active);
  }

  function show(i) {
    active = i;
    const g = geometry;
    const x = g.x(i);
    const p = o.points[i];
    const guide = svg("line", { class: "guide", x1: x, x2: x, y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom });
    const dots = o.series
      .filter((s) => isNum(p[s.key]))
      .map((s) => svg("circle", { class: `dot ${s.cls}`, cx: x, cy: g.y(s)(p[s.key]), r: 3.5 }));
    g.overlay.replaceChildren(guide, ...dots);
    tooltip.replaceChildren(
      h("div", { class: "t-time" }, formatTime(p.timestamp, o.interval, true)),
      ...o.series.map((s) => h("div", {}, `${s.label}: ${isNum(p[s.key]) ? s.format(p[s.key]) : "no data"}`)),
    );
    tooltip.hidden = false;
    // Geometry through CSSOM (allowed by the CSP, unlike style attributes).
    const scale = root.clientWidth / width || 1;
    const left = x * scale + 12;
    const flip = left + tooltip.offsetWidth > root.clientWidth;
    tooltip.style.left = `${Math.max(0, flip ? x * scale - tooltip.offsetWidth - 12 : left)}px`;
    tooltip.style.top = `${legend.offsetHeight + MARGIN.top}px`;
  }

  function hide() {
    active = -1;
    tooltip.hidden = true;
    if (geometry) geometry.overlay.replaceChildren();
  }

  plot.addEventListener("pointermove", (event) => {
    if (!o.points.length) return;
    const rect = plot.getBoundingClientRect();
    const x = ((event.clientX - rect.left) / rect.width) * width;
    show(geometry.index(x));
  });
  plot.addEventListener("pointerleave", hide);
  plot.addEventListener("blur", hide);
  plot.addEventListener("focus", () => o.points.length && show(active >= 0 ? active : o.points.length - 1));
  plot.addEventListener("keydown", (event) => {
    if (!o.points.length) return;
    const last = o.points.length - 1;
    const moves = { ArrowLeft: active - 1, ArrowRight: active + 1, Home: 0, End: last };
    if (event.key in moves) {
      event.preventDefault();
      show(Math.min(last, Math.max(0, moves[event.key])));
    } else if (event.key === "Escape") hide();
  });

  const observer = new ResizeObserver(() => draw());
  observer.observe(root);
  // Draw once now if already laid out; otherwise the observer draws on insertion.
  queueMicrotask(draw);
  return {
    root,
    destroy() {
      observer.disconnect();
    },
  };
}

function svgLegend(s) {
  return svg(
    "svg",
    { viewBox: "0 0 24 10", "aria-hidden": "true" },
    svg("line", { class: `line ${s.cls}${s.dashed ? " dashed" : ""}`, x1: 1, x2: 23, y1: 5, y2: 5 }),
  );
}

function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

function layout(o, w) {
  const n = o.points.length;
  const innerW = w - MARGIN.left - (o.right ? MARGIN.right : 16);
  const innerH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (i) => MARGIN.left + (n <= 1 ? innerW / 2 : (i / (n - 1)) * innerW);
  const index = (px) => Math.min(n - 1, Math.max(0, Math.round(n <= 1 ? 0 : ((px - MARGIN.left) / innerW) * (n - 1))));
  const axisMax = (side) => {
    const values = o.points.flatMap((p) => o.series.filter((s) => (s.axis || "left") === side).map((s) => p[s.key])).filter(isNum);
    return niceMax(values.length ? Math.max(...values) : 0);
  };
  const max = { left: axisMax("left"), right: o.right ? axisMax("right") : 1 };
  const yFor = (side) => (v) => MARGIN.top + innerH - (v / max[side].max) * innerH;
  return { x, index, innerW, innerH, max, y: (s) => yFor(s.axis || "left"), yFor };
}

/** A round axis maximum and its tick step. */
function niceMax(value) {
  if (!(value > 0)) return { max: 1, step: 0.25 };
  const rough = value / 4;
  const mag = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= rough);
  return { max: step * Math.ceil(value / step), step };
}

function drawAxes(plot, o, g) {
  const base = HEIGHT - MARGIN.bottom;
  const x0 = MARGIN.left;
  const x1 = MARGIN.left + g.innerW;
  for (let v = 0; v <= g.max.left.max + 1e-9; v += g.max.left.step) {
    const y = g.yFor("left")(v);
    plot.append(svg("line", { class: "grid-line", x1: x0, x2: x1, y1: y, y2: y }));
    plot.append(svg("text", { class: "axis-text", x: x0 - 6, y: y + 4, "text-anchor": "end", text: o.left.format(v) }));
  }
  if (o.right) {
    const ticks = Math.round(g.max.left.max / g.max.left.step);
    for (let i = 0; i <= ticks; i += 1) {
      const v = (g.max.right.max / ticks) * i;
      plot.append(svg("text", { class: "axis-text", x: x1 + 6, y: g.yFor("right")(v) + 4, "text-anchor": "start", text: o.right.format(v) }));
    }
    plot.append(svg("text", { class: "axis-title", x: x1 + 6, y: MARGIN.top - 14, "text-anchor": "start", text: o.right.title }));
  }
  plot.append(svg("text", { class: "axis-title", x: x0 - 6, y: MARGIN.top - 14, "text-anchor": "end", text: o.left.title }));
  // X labels: as many as fit, ~90 px apart.
  const n = o.points.length;
  const slots = Math.max(1, Math.floor(g.innerW / 90));
  const every = Math.max(1, Math.ceil(n / slots));
  for (let i = 0; i < n; i += every) {
    plot.append(svg("text", { class: "axis-text", x: g.x(i), y: base + 16, "text-anchor": "middle", text: formatTime(o.points[i].timestamp, o.interval, false) }));
  }
  plot.append(svg("line", { class: "guide", x1: x0, x2: x1, y1: base, y2: base }));
  plot.append(svg("text", { class: "axis-text", x: x1, y: base + 30, "text-anchor": "end", text: "UTC" }));
}

function drawLine(plot, points, s, g) {
  const y = g.y(s);
  let d = "";
  let pen = false;
  points.forEach((p, i) => {
    const v = p[s.key];
    if (!isNum(v)) {
      pen = false;
      return;
    }
    d += `${pen ? "L" : "M"}${g.x(i).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  });
  if (d) plot.append(svg("path", { class: `line ${s.cls}${s.dashed ? " dashed" : ""}`, d }));
  // A point with no neighbour (between gaps) would be invisible as a path: draw it as a dot.
  points.forEach((p, i) => {
    const lone = !isNum((points[i - 1] || {})[s.key]) && !isNum((points[i + 1] || {})[s.key]);
    if (isNum(p[s.key]) && lone) plot.append(svg("circle", { class: `dot ${s.cls}`, cx: g.x(i), cy: y(p[s.key]), r: 3 }));
  });
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "Nov 26" for days, "Nov 26 14:00" for hours; always UTC (the buckets are UTC). */
export function formatTime(iso, interval, long) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const day = `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
  if (interval === "day") return long ? `${day}, ${d.getUTCFullYear()} (UTC)` : day;
  const time = `${String(d.getUTCHours()).padStart(2, "0")}:00`;
  return long ? `${day}, ${time} UTC` : `${day} ${time}`;
}
