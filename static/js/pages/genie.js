// Genie: pick a space, pick (or start) a conversation, ask in plain language and follow Genie
// while it works. The answer shows its text, the SQL (collapsible), the result table and the
// suggested questions as buttons; asking again continues the same conversation.
//
// The message function answers a POST with server-sent events, which EventSource cannot send:
// the stream is read with fetch and a ReadableStream, one `event:`/`data:` block at a time.

import { ApiError } from "../api.js";
import { fn, h, pageHeader, errorAlert, badge, formatTime, uid, describeError } from "../ui.js";

const STATUS_TEXT = {
  SUBMITTED: "Question received",
  FETCHING_METADATA: "Reading the data's metadata",
  FILTERING_CONTEXT: "Choosing the relevant tables",
  ASKING_AI: "Thinking",
  PENDING_WAREHOUSE: "Waiting for the SQL warehouse",
  EXECUTING_QUERY: "Running the query",
  COMPLETED: "Done",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
  QUERY_RESULT_EXPIRED: "Done (result re-run)",
};

/** POST a question and call `onEvent(name, data)` for each server-sent event. */
async function ask(spaceId, body, signal, onEvent) {
  let response;
  try {
    response = await fetch(`/api/genie/spaces/${encodeURIComponent(spaceId)}/messages`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      credentials: "same-origin",
      body: JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, null, `Could not reach the server (${error && error.message}).`);
  }
  const type = response.headers.get("content-type") || "";
  if (!response.ok || !type.startsWith("text/event-stream")) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    throw new ApiError(response.status, data, `Asking Genie failed with HTTP ${response.status}.`, response.headers.get("retry-after"));
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

function resultTable(result) {
  const table = h(
    "table",
    { class: "data", "data-testid": "genie-result" },
    h("caption", {}, `${result.row_count} row${result.row_count === 1 ? "" : "s"}${result.truncated ? " (truncated)" : ""}`),
    h("thead", {}, h("tr", {}, result.columns.map((c) => h("th", { scope: "col" }, c.name, h("span", { class: "type" }, c.type_name))))),
    h(
      "tbody",
      {},
      result.rows.map((row) =>
        h(
          "tr",
          {},
          row.map((cell) =>
            cell === null ? h("td", { class: "null" }, "null") : h("td", { class: typeof cell === "number" ? "num" : "" }, String(cell)),
          ),
        ),
      ),
    ),
  );
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Query result" }, table);
}

export async function render(root, { signal }) {
  root.append(pageHeader("Genie", "Ask your data questions in plain language."));

  const spaceId = uid("genie-space");
  const spaceSelect = h("select", { id: spaceId, disabled: true, "data-track-id": "genie-space" });
  const conversations = h("ul", { class: "stack", "data-testid": "genie-conversations" });
  const newButton = h("button", { class: "btn btn-small", type: "button", "data-track-id": "genie-new" }, "New conversation");
  const side = h(
    "section",
    { class: "card", "aria-labelledby": "genie-side-heading" },
    h("h2", { id: "genie-side-heading" }, "Space and conversations"),
    h("div", { class: "field" }, h("label", { for: spaceId }, "Genie space"), spaceSelect),
    h("div", { class: "card-header" }, h("h3", {}, "Your conversations"), newButton),
    conversations,
  );

  const thread = h("div", { class: "stack", "data-testid": "genie-thread", "aria-live": "polite" });
  const questionId = uid("genie-question");
  const question = h("textarea", { id: questionId, rows: 3, maxlength: 4000, "data-track-id": "genie-question" });
  const askButton = h("button", { class: "btn btn-primary", type: "submit", "data-track-id": "genie-ask" }, "Ask");
  const stopButton = h("button", { class: "btn", type: "button", hidden: true, "data-track-id": "genie-stop" }, "Stop");
  const liveStatus = h("p", { class: "hint", role: "status", "data-testid": "genie-status" });
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    h("div", { class: "field" }, h("label", { for: questionId }, "Your question"), question),
    h("div", { class: "fields" }, askButton, stopButton),
    liveStatus,
  );
  const main = h("section", { class: "card", "aria-labelledby": "genie-thread-heading" }, h("h2", { id: "genie-thread-heading" }, "Conversation"), thread, form);
  root.append(h("div", { class: "two-col" }, side, main));

  const state = { space: null, conversation: null, asking: null };

  function messageView(m) {
    const parts = [h("p", {}, h("strong", {}, "You: "), m.content || "")];
    const kind = m.status === "COMPLETED" || m.status === "QUERY_RESULT_EXPIRED" ? "success" : m.status === "FAILED" ? "danger" : "info";
    const answer = h("div", { class: "answer stack", "data-testid": "genie-answer" }, h("div", {}, badge(STATUS_TEXT[m.status] || m.status, kind)));
    if (m.text) answer.append(h("p", { "data-testid": "genie-text" }, m.text));
    if (m.error) answer.append(h("div", { class: "alert alert-error" }, `Genie could not answer: ${m.error.message || m.error.type || "unknown error"}`, m.error.type ? h("span", { class: "meta" }, m.error.type) : null));
    if (m.query) {
      answer.append(
        h(
          "details",
          { "data-testid": "genie-sql" },
          h("summary", {}, m.query.title ? `SQL: ${m.query.title}` : "SQL"),
          m.query.description ? h("p", { class: "muted" }, m.query.description) : null,
          h("pre", {}, h("code", {}, m.query.sql || "")),
        ),
      );
    }
    const resultSlot = h("div", {});
    answer.append(resultSlot);
    if (m.suggested_questions && m.suggested_questions.length) {
      answer.append(
        h(
          "div",
          { class: "fields", "data-testid": "genie-suggestions" },
          m.suggested_questions.map((q) => h("button", { class: "btn btn-small", type: "button", on: { click: () => submit(q) } }, q)),
        ),
      );
    }
    return { node: h("article", { class: "stack", dataset: { messageId: m.message_id || "" } }, parts, answer), resultSlot };
  }

  async function loadResult(m, slot) {
    try {
      const result = await fn("genieMessageResult")(state.space, state.conversation, m.message_id, { signal });
      slot.replaceChildren(resultTable(result));
    } catch (error) {
      if (error && error.name === "AbortError") return;
      slot.replaceChildren(h("p", { class: "hint" }, `The result could not be loaded: ${describeError(error)}`));
    }
  }

  async function openConversation(id) {
    state.conversation = id;
    thread.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    markCurrent();
    try {
      const messages = await fn("genieMessagesList")(state.space, id, { signal });
      thread.replaceChildren();
      for (const m of messages) {
        const view = messageView(m);
        thread.append(view.node);
        if (m.query && (m.status === "COMPLETED" || m.status === "QUERY_RESULT_EXPIRED")) {
          view.resultSlot.append(h("button", { class: "btn btn-small", type: "button", on: { click: () => loadResult(m, view.resultSlot) } }, "Show result"));
        }
      }
    } catch (error) {
      if (error && error.name === "AbortError") return;
      thread.replaceChildren(errorAlert(error, { title: "The conversation could not be loaded" }));
    }
  }

  function markCurrent() {
    for (const b of conversations.querySelectorAll("button[data-conversation]")) {
      if (b.dataset.conversation === state.conversation) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    }
  }

  async function loadConversations() {
    conversations.replaceChildren(h("li", { class: "muted" }, "Loading…"));
    try {
      const list = await fn("genieConversationsList")(state.space, { signal });
      conversations.replaceChildren();
      if (!list.length) conversations.append(h("li", { class: "muted" }, "No conversations yet: ask a question."));
      for (const c of list) {
        conversations.append(
          h(
            "li",
            {},
            h("button", { class: "btn btn-link", type: "button", dataset: { conversation: c.conversation_id }, on: { click: () => openConversation(c.conversation_id) } }, c.title || "(untitled)"),
            c.created_at ? h("span", { class: "small muted" }, ` ${formatTime(c.created_at)}`) : null,
          ),
        );
      }
      markCurrent();
    } catch (error) {
      if (error && error.name === "AbortError") return;
      conversations.replaceChildren(h("li", {}, errorAlert(error, { title: "Conversations could not be loaded" })));
    }
  }

  async function submit(text) {
    const content = (text || question.value).trim();
    if (!content || !state.space || state.asking) return;
    question.value = "";
    const controller = new AbortController();
    signal.addEventListener("abort", () => controller.abort(), { once: true });
    state.asking = controller;
    askButton.disabled = true;
    stopButton.hidden = false;
    liveStatus.textContent = "Asking Genie…";
    const pending = h("article", { class: "stack" }, h("p", {}, h("strong", {}, "You: "), content), h("p", { class: "muted", "data-testid": "genie-live" }, "Asking…"));
    thread.append(pending);
    let message = null;
    const body = { content };
    if (state.conversation) body.conversation_id = state.conversation;
    try {
      await ask(state.space, body, controller.signal, (name, data) => {
        if (name === "status") {
          const isNew = !state.conversation;
          state.conversation = data.conversation_id;
          if (isNew) loadConversations();
          const text = STATUS_TEXT[data.status] || data.status;
          liveStatus.textContent = `Genie: ${text}…`;
          pending.lastChild.textContent = `${text}…`;
        } else if (name === "message") {
          message = messageView({ ...data, content });
          pending.replaceWith(message.node);
          liveStatus.textContent = `Genie: ${STATUS_TEXT[data.status] || data.status}.`;
        } else if (name === "result" && message) {
          message.resultSlot.replaceChildren(resultTable(data));
        } else if (name === "error") {
          throw new ApiError(200, data, data.message || "Genie failed.");
        }
      });
    } catch (error) {
      if (error && error.name === "AbortError") {
        pending.lastChild.textContent = "Stopped.";
        liveStatus.textContent = "Stopped.";
      } else {
        const alert = errorAlert(error, { title: "Genie could not answer" });
        if (message) message.node.append(alert);
        else pending.replaceWith(h("article", { class: "stack" }, h("p", {}, h("strong", {}, "You: "), content), alert));
        liveStatus.textContent = "";
      }
    } finally {
      state.asking = null;
      askButton.disabled = false;
      stopButton.hidden = true;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  stopButton.addEventListener("click", () => state.asking && state.asking.abort());
  newButton.addEventListener("click", () => {
    state.conversation = null;
    thread.replaceChildren(h("p", { class: "muted" }, "A new conversation starts with your next question."));
    markCurrent();
    question.focus();
  });
  spaceSelect.addEventListener("change", () => {
    state.space = spaceSelect.value;
    state.conversation = null;
    thread.replaceChildren();
    loadConversations();
  });

  try {
    const spaces = await fn("genieSpacesList")({ signal });
    spaceSelect.replaceChildren(...spaces.map((s) => h("option", { value: s.space_id }, s.configured ? `${s.title} ★` : s.title)));
    if (!spaces.length) {
      main.prepend(h("div", { class: "alert alert-info" }, "No Genie space is available to you. Ask for access to a space, or set DATABRICKS_GENIE_SPACE_ID."));
      askButton.disabled = true;
      return;
    }
    spaceSelect.disabled = false;
    state.space = spaces[0].space_id;
    await loadConversations();
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    side.append(errorAlert(error, { title: "Genie spaces could not be loaded" }));
    askButton.disabled = true;
  }
  return () => state.asking && state.asking.abort();
}
