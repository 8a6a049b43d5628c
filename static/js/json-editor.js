// A JSON editor: a labelled monospace textarea that validates as you type (syntax with line and
// column, then an optional check of the parsed value), shows the result in a live hint wired
// with aria-describedby / aria-invalid, and offers "Format". Tab is left to move focus, so the
// editor never traps the keyboard.

import { h, uid } from "./ui.js";

/**
 * @param {object} o
 * @param {string} o.label
 * @param {unknown} [o.value]  initial value (pretty-printed)
 * @param {(value: unknown, text: string) => string|null} [o.check]  an error message or null
 * @param {(state: {ok: boolean}) => void} [o.onChange]
 * @param {number} [o.rows]
 * @param {string} [o.trackId]
 */
export function jsonEditor({ label, value, check, onChange, rows = 12, trackId }) {
  const id = uid("json");
  const hintId = `${id}-hint`;
  const textarea = h("textarea", {
    id,
    rows,
    spellcheck: "false",
    autocapitalize: "off",
    autocomplete: "off",
    "aria-describedby": hintId,
    "data-track-id": trackId,
  });
  const hint = h("p", { class: "hint", id: hintId, "aria-live": "polite" });
  const format = h("button", { class: "btn btn-small", type: "button" }, "Format");
  const root = h(
    "div",
    { class: "field json-editor" },
    h("div", { class: "editor-bar" }, h("label", { for: id }, label), format),
    textarea,
    hint,
  );

  let state = { ok: false, value: undefined, error: "empty" };
  let started = false; // no onChange for the initial value: the caller is still being built

  function validate() {
    const text = textarea.value;
    if (text.trim() === "") {
      state = { ok: false, value: undefined, error: "Enter a JSON value." };
    } else {
      try {
        const parsed = JSON.parse(text);
        const problem = check ? check(parsed, text) : null;
        state = problem ? { ok: false, value: parsed, error: problem } : { ok: true, value: parsed, error: null };
      } catch (e) {
        state = { ok: false, value: undefined, error: `Invalid JSON: ${describeSyntaxError(e, text)}` };
      }
    }
    textarea.setAttribute("aria-invalid", String(!state.ok));
    hint.textContent = state.ok ? "Valid JSON." : state.error;
    hint.className = `hint ${state.ok ? "ok" : "error"}`;
    if (onChange && started) onChange(state);
    return state;
  }

  textarea.addEventListener("input", validate);
  format.addEventListener("click", () => {
    const s = validate();
    if (s.value !== undefined) {
      textarea.value = JSON.stringify(s.value, null, 2);
      validate();
    }
  });

  function setValue(v) {
    textarea.value = v === undefined ? "" : JSON.stringify(v, null, 2);
    return validate();
  }

  setValue(value);
  started = true;
  return {
    root,
    textarea,
    setValue,
    setText(text) {
      textarea.value = text;
      return validate();
    },
    /** {ok, value, error} for the current text (kept up to date on every edit). */
    read: () => state,
    set disabled(d) {
      textarea.disabled = d;
      format.disabled = d;
    },
  };
}

/** Chromium says "… at position N" (or "line L column C"); turn a position into line:column. */
function describeSyntaxError(error, text) {
  const message = String(error.message || error);
  const pos = /position (\d+)/.exec(message);
  if (pos) {
    const index = Number(pos[1]);
    const before = text.slice(0, index).split("\n");
    const line = before.length;
    const column = before[before.length - 1].length + 1;
    return `${message.replace(/\s*\(line \d+ column \d+\)/, "")} (line ${line}, column ${column})`;
  }
  return message;
}
