// Small DOM and formatting helpers shared by the pages. Everything is built with DOM APIs and
// textContent, never innerHTML with data, so API values cannot inject markup; and nothing sets a
// `style` attribute (the CSP forbids inline styles): layout is classes, geometry is CSSOM.

import * as api from "./api.js";

/**
 * Create an element. `attrs`: `class`, `text`, `on: {event: fn}`, `dataset`, booleans
 * (`disabled: true`), anything else as an attribute. Children: nodes, strings, arrays, null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") throw new Error("inline styles are blocked by the CSP; use a class");
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** An SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

let idCounter = 0;
/** A document-unique id for label/aria wiring. */
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/**
 * The generated client function for a registry name, or a function that rejects with a clear
 * message when this server does not have it (yet). Pages call the API only through this.
 */
export function fn(camelName) {
  const f = api[camelName];
  if (typeof f === "function") return f;
  return () =>
    Promise.reject(
      Object.assign(new Error(`This server has no ${camelName} function. Update brickbox and regenerate static/js/api.js.`), {
        status: 0,
        error_code: "FUNCTION_MISSING",
      }),
    );
}

export function has(camelName) {
  return typeof api[camelName] === "function";
}

const numberFormat = new Intl.NumberFormat("en-US");
export function formatNumber(n) {
  return n === null || n === undefined || Number.isNaN(n) ? "–" : numberFormat.format(n);
}
export function formatMs(n) {
  if (n === null || n === undefined) return "–";
  return `${Number(n).toLocaleString("en-US", { maximumFractionDigits: n < 10 ? 2 : 1 })} ms`;
}
export function formatPercent(ratio) {
  if (ratio === null || ratio === undefined) return "–";
  return `${(ratio * 100).toLocaleString("en-US", { maximumFractionDigits: 2, minimumFractionDigits: 0 })}%`;
}
export function formatTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}
export function formatDuration(seconds) {
  const s = Math.floor(seconds || 0);
  const parts = [];
  if (s >= 86400) parts.push(`${Math.floor(s / 86400)}d`);
  if (s >= 3600) parts.push(`${Math.floor((s % 86400) / 3600)}h`);
  if (s >= 60) parts.push(`${Math.floor((s % 3600) / 60)}m`);
  parts.push(`${s % 60}s`);
  return parts.join(" ");
}

/** A badge; kind is success | danger | warning | info | neutral. */
export function badge(text, kind = "neutral", extra = {}) {
  return h("span", { class: `badge badge-${kind}`, ...extra }, text);
}

/** The message of an error for people, with what to do for the common statuses. */
export function describeError(error) {
  if (!error) return "Unknown error.";
  if (error.status === 401) return `You are not signed in or your session expired (${error.message}). Reload the page to sign in again.`;
  if (error.status === 0 && error.error_code === "NETWORK_ERROR") return "The server could not be reached. Check your connection and retry.";
  return error.message || String(error);
}

/** An error alert with the correlation id and an optional Retry button. */
export function errorAlert(error, { title = "Something went wrong", onRetry, retryLabel = "Retry" } = {}) {
  const meta = [];
  if (error && error.error_code) meta.push(error.error_code);
  if (error && error.status) meta.push(`HTTP ${error.status}`);
  if (error && error.correlation_id) meta.push(`correlation id ${error.correlation_id}`);
  if (error && error.retry_after) meta.push(`retry after ${error.retry_after}s`);
  return h(
    "div",
    { class: "alert alert-error", role: "alert" },
    h("div", { class: "alert-text" }, h("strong", {}, `${title}: `), describeError(error), meta.length ? h("span", { class: "meta" }, meta.join(" · ")) : null),
    onRetry ? h("button", { class: "btn btn-small", type: "button", on: { click: onRetry } }, retryLabel) : null,
  );
}

/** A short visible and announced message. */
export function toast(message, kind = "info", ms = 4000) {
  const region = document.getElementById("toast-region");
  if (!region) return;
  const el = h("div", { class: `toast ${kind}` }, message);
  region.append(el);
  setTimeout(() => el.remove(), ms);
}

/** A page header with a title, an optional subtitle and actions. */
export function pageHeader(title, subtitle, ...actions) {
  return h(
    "div",
    { class: "page-header" },
    h("div", {}, h("h1", {}, title), subtitle ? h("p", { class: "muted" }, subtitle) : null),
    actions.length ? h("div", { class: "actions" }, actions) : null,
  );
}

/** A labelled <select>. `options`: [{value, label}] or strings. Returns {field, select}. */
export function selectField(label, options, attrs = {}) {
  const id = attrs.id || uid("select");
  const select = h("select", { id, ...attrs });
  setOptions(select, options);
  const field = h("div", { class: "field" }, h("label", { for: id }, label), select);
  return { field, select };
}

export function setOptions(select, options, placeholder) {
  select.replaceChildren();
  if (placeholder !== undefined) select.append(h("option", { value: "" }, placeholder));
  for (const o of options) {
    const { value, label } = typeof o === "string" ? { value: o, label: o } : o;
    select.append(h("option", { value }, label));
  }
}

/** Pretty JSON text. */
export function pretty(value) {
  return JSON.stringify(value, null, 2);
}
