// Model serving: endpoints with state and type badges; on selection the server detects the input
// format and the example lands in the JSON editor; invoke with a timeout; the result with its
// latency; and your invocation history with details.

import { fn, h, pageHeader, badge, errorAlert, formatNumber, formatMs, formatTime, pretty, uid } from "../ui.js";
import { jsonEditor } from "../json-editor.js";

const DEFAULT_INPUT = { messages: [{ role: "user", content: "Hello! How are you?" }], max_tokens: 150 };
const HISTORY_PAGE = 50;
const TYPE_LABELS = {
  FOUNDATION_MODEL: ["Foundation model", "success"],
  EXTERNAL_MODEL: ["External model", "info"],
  MLFLOW_MODEL: ["MLflow model", "info"],
  UNKNOWN: ["Unknown type", "neutral"],
};

export function stateBadge(state) {
  const kind = state === "READY" ? "success" : state === "UPDATE_FAILED" ? "danger" : "warning";
  return badge(state || "UNKNOWN", kind);
}

function typeBadge(type) {
  const [label, kind] = TYPE_LABELS[type] || TYPE_LABELS.UNKNOWN;
  return badge(label, kind);
}

export async function render(root, { signal, tracker }) {
  const refresh = h("button", { class: "btn", type: "button", "data-track-id": "models-refresh" }, "Refresh endpoints");
  root.append(pageHeader("Model Serving", "Invoke the serving endpoints you can query, with an input example detected from each model.", refresh));

  const listCard = h("section", { class: "card", "aria-labelledby": "ep-heading" }, h("h2", { id: "ep-heading" }, "Endpoints"));
  const list = h("div", { "aria-live": "polite" });
  listCard.append(list);
  const invokeCard = h("section", { class: "card", "aria-labelledby": "invoke-heading" });
  const historyCard = h("section", { class: "card", "aria-labelledby": "history-heading" });
  root.append(h("div", { class: "two-col" }, listCard, invokeCard), historyCard);

  let endpoints = [];
  let selected = null;

  // ---- invoke panel -------------------------------------------------------------------------
  const details = h("div");
  const detection = h("p", { class: "hint", "aria-live": "polite", "data-testid": "detection" });
  const timeoutId = uid("timeout");
  const timeoutHint = h("p", { class: "hint", id: `${timeoutId}-hint` }, "1 to 300 seconds.");
  const timeout = h("input", { id: timeoutId, type: "number", min: 1, max: 300, step: 1, value: 30, inputmode: "numeric", "aria-describedby": `${timeoutId}-hint` });
  const invokeButton = h("button", { class: "btn btn-primary", type: "button", disabled: true, "data-track-id": "invoke-model" }, "Invoke");
  const output = h("div", { "aria-live": "polite" });
  const editor = jsonEditor({
    label: "Input (JSON)",
    value: DEFAULT_INPUT,
    rows: 14,
    trackId: "invoke-input",
    check: (v) => (v && typeof v === "object" && !Array.isArray(v) ? null : "The input must be a JSON object, e.g. {\"messages\": […]}."),
    onChange: () => updateInvoke(),
  });

  function timeoutValue() {
    const n = Number(timeout.value);
    return Number.isInteger(n) && n >= 1 && n <= 300 ? n : null;
  }
  timeout.addEventListener("input", () => {
    const ok = timeoutValue() !== null;
    timeout.setAttribute("aria-invalid", String(!ok));
    timeoutHint.textContent = ok ? "1 to 300 seconds." : "Enter a whole number of seconds from 1 to 300.";
    timeoutHint.className = `hint${ok ? "" : " error"}`;
    updateInvoke();
  });

  function updateInvoke() {
    const ready = selected && selected.state === "READY";
    invokeButton.disabled = !ready || !editor.read().ok || timeoutValue() === null || invokeButton.dataset.busy === "1";
  }

  invokeCard.append(
    h("h2", { id: "invoke-heading" }, "Invoke"),
    details,
    editor.root,
    detection,
    h("div", { class: "fields" }, h("div", { class: "field narrow" }, h("label", { for: timeoutId }, "Timeout (s)"), timeout, timeoutHint), h("div", { class: "field narrow" }, invokeButton)),
    output,
  );

  function showDetails() {
    if (!selected) {
      details.replaceChildren(h("p", { class: "muted" }, "Choose an endpoint from the list."));
      return;
    }
    const e = selected;
    details.replaceChildren(
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Endpoint"),
        h("dd", { "data-testid": "selected-endpoint" }, e.name),
        h("dt", {}, "State"),
        h("dd", {}, stateBadge(e.state)),
        h("dt", {}, "Type"),
        h("dd", {}, typeBadge(e.endpoint_type), e.task ? ` ${e.task}` : ""),
        h("dt", {}, "Model"),
        h("dd", {}, e.model_name ? `${e.model_name}${e.model_version ? ` v${e.model_version}` : ""}` : "–"),
      ),
    );
    if (e.state !== "READY") {
      details.append(h("div", { class: "alert alert-warning" }, h("div", { class: "alert-text" }, "This endpoint is not ready; it can be invoked once its state is READY.")));
    }
  }

  async function detectSchema(e) {
    const cacheKey = `brickbox.schema.${e.name}`;
    let schema = null;
    try {
      schema = JSON.parse(sessionStorage.getItem(cacheKey) || "null");
    } catch {
      schema = null;
    }
    if (!schema) {
      detection.textContent = "Detecting the input format…";
      detection.className = "hint";
      editor.disabled = true;
      try {
        schema = await fn("modelEndpointSchema")(e.name, { signal });
        if (schema.status === "SUCCESS") sessionStorage.setItem(cacheKey, JSON.stringify(schema));
      } catch (error) {
        if (error.name === "AbortError") return;
        if (selected !== e) return;
        editor.disabled = false;
        detection.textContent = `Input format detection failed (${error.message}). Edit the JSON by hand.`;
        detection.className = "hint error";
        return;
      }
    }
    if (selected !== e) return;
    editor.disabled = false;
    if (schema.example_json !== null && schema.example_json !== undefined) editor.setValue(schema.example_json);
    const format = schema.input_format ? ` (${schema.input_format})` : "";
    detection.className = `hint${schema.status === "SUCCESS" ? "" : " error"}`;
    detection.textContent =
      schema.status === "SUCCESS"
        ? `Input format detected${format}. You can edit the JSON above.`
        : schema.status === "TIMEOUT"
          ? "Input format detection timed out; a generic example is shown. Edit the JSON as the model expects."
          : `Input format detection was not possible${schema.error_message ? `: ${schema.error_message}` : ""}. See the model's documentation.`;
  }

  function select(e) {
    selected = e;
    for (const b of list.querySelectorAll("button[data-endpoint]")) b.setAttribute("aria-pressed", String(b.dataset.endpoint === e.name));
    output.replaceChildren();
    showDetails();
    updateInvoke();
    detectSchema(e);
  }

  invokeButton.addEventListener("click", async () => {
    const input = editor.read();
    const seconds = timeoutValue();
    if (!selected || !input.ok || seconds === null) return;
    const e = selected;
    invokeButton.dataset.busy = "1";
    invokeButton.textContent = "Invoking…";
    updateInvoke();
    output.replaceChildren(h("p", { class: "muted", role: "status" }, `Invoking ${e.name}…`));
    const started = performance.now();
    try {
      const r = await fn("modelInvoke")({ endpoint_name: e.name, inputs: input.value, timeout_seconds: seconds }, { signal });
      const roundTrip = Math.round(performance.now() - started);
      const answer = answerText(r.predictions);
      output.replaceChildren(
        h(
          "div",
          { class: "alert alert-success", role: "status" },
          h("div", { class: "alert-text" }, `Completed in ${formatMs(r.execution_time_ms)} (${formatMs(roundTrip)} round trip).`, h("span", { class: "meta" }, `Request ${r.request_id}`)),
        ),
        h("div", { hidden: answer === null }, h("h3", {}, "Answer"), h("div", { class: "answer", "data-testid": "model-answer" }, answer || "")),
        h("h3", {}, "Predictions"),
        h("pre", { "data-testid": "predictions" }, pretty(r.predictions)),
      );
      tracker.track({ event_type: "model_invoked", element_id: "invoke-model", success: true, metadata: { endpoint: e.name } });
      loadHistory(0);
    } catch (error) {
      if (error.name === "AbortError") return;
      output.replaceChildren(errorAlert(error, { title: "Invocation failed" }));
      tracker.track({ event_type: "model_invoked", element_id: "invoke-model", success: false, metadata: { endpoint: e.name, error_code: error.error_code } });
      loadHistory(0);
    } finally {
      delete invokeButton.dataset.busy;
      invokeButton.textContent = "Invoke";
      updateInvoke();
    }
  });

  // ---- endpoint list ------------------------------------------------------------------------
  async function loadEndpoints() {
    refresh.disabled = true;
    list.replaceChildren(h("div", { class: "skeleton block", role: "status", "aria-label": "Loading endpoints" }));
    try {
      endpoints = await fn("modelEndpointsList")({ signal });
      if (!endpoints.length) {
        list.replaceChildren(h("p", { class: "empty" }, "No serving endpoints are visible to you."));
      } else {
        list.replaceChildren(
          h(
            "ul",
            { class: "endpoint-list" },
            endpoints.map((e) =>
              h(
                "li",
                {},
                h(
                  "button",
                  { type: "button", "aria-pressed": String(selected !== null && selected.name === e.name), dataset: { endpoint: e.name }, "data-track-id": "select-endpoint", on: { click: () => select(e) } },
                  h("span", { class: "name" }, e.name),
                  h("span", { class: "badges" }, stateBadge(e.state), typeBadge(e.endpoint_type)),
                  e.model_name ? h("span", { class: "muted small" }, `${e.model_name}${e.model_version ? ` v${e.model_version}` : ""}`) : null,
                ),
              ),
            ),
          ),
        );
      }
      if (selected) {
        const again = endpoints.find((e) => e.name === selected.name);
        selected = again || null;
        showDetails();
        updateInvoke();
      }
    } catch (error) {
      if (error.name !== "AbortError") list.replaceChildren(errorAlert(error, { title: "Could not list endpoints", onRetry: loadEndpoints }));
    } finally {
      refresh.disabled = false;
    }
  }
  refresh.addEventListener("click", loadEndpoints);

  // ---- history ------------------------------------------------------------------------------
  const historyRefresh = h("button", { class: "btn btn-small", type: "button", "data-track-id": "history-refresh" }, "Refresh");
  const historyBody = h("div", { "aria-live": "polite", "data-testid": "history" });
  historyCard.append(h("div", { class: "card-header" }, h("h2", { id: "history-heading" }, "Your history"), h("div", { class: "actions" }, historyRefresh)), historyBody);
  let historyOffset = 0;
  historyRefresh.addEventListener("click", () => loadHistory(historyOffset));

  async function loadHistory(offset) {
    historyOffset = offset;
    historyRefresh.disabled = true;
    try {
      const page = await fn("modelLogs")({ limit: HISTORY_PAGE, offset }, { signal });
      historyBody.replaceChildren(renderHistory(page));
    } catch (error) {
      if (error.name !== "AbortError") historyBody.replaceChildren(errorAlert(error, { title: "Could not load your history", onRetry: () => loadHistory(offset) }));
    } finally {
      historyRefresh.disabled = false;
    }
  }

  function renderHistory(page) {
    if (!page.logs.length) return h("p", { class: "empty" }, page.total_count ? "No entries on this page." : "No invocations yet. Invoke an endpoint above and it appears here.");
    const rows = [];
    for (const log of page.logs) {
      const detailId = uid("log");
      const toggle = h("button", { class: "btn btn-small", type: "button", "aria-expanded": "false", "aria-controls": detailId }, "Details");
      const detailRow = h(
        "tr",
        { id: detailId, hidden: true },
        h(
          "td",
          { colspan: 6, class: "wrap" },
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "Request id"),
            h("dd", { class: "mono" }, log.request_id),
            h("dt", {}, "Created"),
            h("dd", {}, formatTime(log.created_at)),
            h("dt", {}, "Completed"),
            h("dd", {}, formatTime(log.completed_at)),
            log.error_message ? [h("dt", {}, "Error"), h("dd", {}, log.error_message)] : null,
          ),
          h("h3", {}, "Inputs"),
          h("pre", {}, pretty(log.inputs)),
          log.predictions !== null && log.predictions !== undefined ? [h("h3", {}, "Predictions"), h("pre", {}, pretty(log.predictions))] : null,
        ),
      );
      toggle.addEventListener("click", () => {
        const open = toggle.getAttribute("aria-expanded") === "true";
        toggle.setAttribute("aria-expanded", String(!open));
        toggle.textContent = open ? "Details" : "Hide";
        detailRow.hidden = open;
      });
      const statusKind = log.status === "SUCCESS" ? "success" : log.status === "TIMEOUT" ? "warning" : "danger";
      rows.push(
        h(
          "tr",
          {},
          h("td", { class: "mono", title: log.request_id }, shortId(log.request_id)),
          h("td", {}, log.endpoint_name),
          h("td", {}, badge(log.status, statusKind)),
          h("td", { class: "num" }, formatNumber(Math.round(log.execution_time_ms))),
          h("td", {}, formatTime(log.created_at)),
          h("td", {}, toggle),
        ),
        detailRow,
      );
    }
    const first = page.offset + 1;
    const last = page.offset + page.logs.length;
    const prev = h("button", { class: "btn btn-small", type: "button", disabled: page.offset === 0 }, "Previous");
    const next = h("button", { class: "btn btn-small", type: "button", disabled: last >= page.total_count }, "Next");
    prev.addEventListener("click", () => loadHistory(Math.max(0, page.offset - HISTORY_PAGE)));
    next.addEventListener("click", () => loadHistory(page.offset + HISTORY_PAGE));
    return h(
      "div",
      {},
      h(
        "div",
        { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Your model invocations" },
        h(
          "table",
          { class: "data" },
          h("caption", { class: "visually-hidden" }, "Your model invocations, newest first"),
          h(
            "thead",
            {},
            h("tr", {}, ["Request", "Endpoint", "Status", "Time (ms)", "Created", "Details"].map((t, i) => h("th", { scope: "col", class: i === 3 ? "num" : null }, t))),
          ),
          h("tbody", {}, rows),
        ),
      ),
      h("div", { class: "pager" }, h("span", { class: "status" }, `Showing ${first}–${last} of ${formatNumber(page.total_count)}`), prev, next),
    );
  }

  showDetails();
  await Promise.all([loadEndpoints(), loadHistory(0)]);
}

function shortId(id) {
  return id && id.length > 14 ? `${id.slice(0, 13)}…` : id;
}

/** The text answer of a chat or completions model, when the predictions have one. */
export function answerText(predictions) {
  const p = predictions;
  if (!p || typeof p !== "object") return typeof p === "string" ? p : null;
  const choice = Array.isArray(p.choices) ? p.choices[0] : null;
  if (choice) {
    if (choice.message && typeof choice.message.content === "string") return choice.message.content;
    if (typeof choice.text === "string") return choice.text;
  }
  return null;
}
