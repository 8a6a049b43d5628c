// Preferences: your stored JSON settings; create or update one (a JSON object, at most 100 KiB),
// delete one after confirming. Saving `theme` ({"mode": "light"|"dark"|"system"}) restyles the app.

import { fn, h, pageHeader, errorAlert, formatTime, pretty, toast, uid } from "../ui.js";
import { jsonEditor } from "../json-editor.js";

const KEY_PATTERN = /^[a-z][a-z0-9_]{0,99}$/;
const MAX_BYTES = 100 * 1024;
const DEFAULTS = {
  theme: { mode: "system" },
  dashboard_layout: { widgets: [], columns: 3 },
  favorite_tables: { tables: [] },
};

export async function render(root, { signal, tracker, preferenceChanged }) {
  const refresh = h("button", { class: "btn", type: "button", "data-track-id": "prefs-refresh" }, "Refresh");
  root.append(pageHeader("Preferences", "Settings stored for you alone, as JSON objects.", refresh));

  let rows = [];

  // ---- form ---------------------------------------------------------------------------------
  const keyId = uid("pref-key");
  const keyHint = h("p", { class: "hint", id: `${keyId}-hint` }, "Lowercase letters, digits and _, starting with a letter.");
  const key = h("input", { id: keyId, type: "text", list: `${keyId}-list`, value: "theme", autocomplete: "off", spellcheck: "false", "aria-describedby": `${keyId}-hint`, "data-track-id": "pref-key" });
  const suggestions = h("datalist", { id: `${keyId}-list` }, Object.keys(DEFAULTS).map((k) => h("option", { value: k })));
  const editor = jsonEditor({
    label: "Value (JSON object)",
    value: DEFAULTS.theme,
    rows: 10,
    trackId: "pref-value",
    check: (v, text) => {
      if (!v || typeof v !== "object" || Array.isArray(v)) return "The value must be a JSON object, e.g. {\"mode\": \"dark\"}.";
      if (new TextEncoder().encode(JSON.stringify(v)).length > MAX_BYTES) return `The value is larger than 100 KiB (${Math.ceil(text.length / 1024)} KiB).`;
      return null;
    },
    onChange: () => updateSave(),
  });
  const save = h("button", { class: "btn btn-primary", type: "submit", "data-track-id": "pref-save" }, "Create");
  const formStatus = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "pref-form-heading", novalidate: true },
    h("h2", { id: "pref-form-heading" }, "Create or update"),
    h("div", { class: "fields" }, h("div", { class: "field key-field" }, h("label", { for: keyId }, "Key"), key, suggestions, keyHint)),
    editor.root,
    h("p", { class: "hint" }, "At most 100 KiB."),
    h("div", { class: "fields" }, h("div", { class: "field narrow" }, save)),
    formStatus,
  );

  const listBody = h("div", { "aria-live": "polite" });
  const listCard = h("section", { class: "card", "aria-labelledby": "pref-list-heading" }, h("h2", { id: "pref-list-heading" }, "Your preferences"), listBody);
  root.append(form, listCard);

  const dialog = h("dialog", { "aria-labelledby": "pref-del-title" });
  root.append(dialog);

  function keyValid() {
    return KEY_PATTERN.test(key.value);
  }
  function existing() {
    return rows.find((r) => r.preference_key === key.value) || null;
  }
  function updateSave() {
    save.disabled = !keyValid() || !editor.read().ok;
    save.textContent = existing() ? "Update" : "Create";
  }

  let lastKey = key.value;
  key.addEventListener("input", () => {
    const ok = keyValid();
    key.setAttribute("aria-invalid", String(!ok && key.value !== ""));
    keyHint.className = `hint${ok || key.value === "" ? "" : " error"}`;
    keyHint.textContent = ok || key.value === "" ? "Lowercase letters, digits and _, starting with a letter." : "Use 1–100 characters: lowercase letters, digits and _, starting with a letter.";
    // Load the stored (or default) value when the key names one.
    if (key.value !== lastKey) {
      lastKey = key.value;
      const row = existing();
      if (row) editor.setValue(row.preference_value);
      else if (DEFAULTS[key.value]) editor.setValue(DEFAULTS[key.value]);
    }
    updateSave();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = editor.read();
    if (!keyValid() || !value.ok) return;
    const k = key.value;
    save.disabled = true;
    formStatus.replaceChildren();
    try {
      const row = await fn("preferencesUpsert")({ preference_key: k, preference_value: value.value }, { signal });
      tracker.track({ event_type: "preference_changed", element_id: "pref-save", success: true, metadata: { key: k } });
      preferenceChanged(k, row.preference_value);
      formStatus.replaceChildren(h("div", { class: "alert alert-success", role: "status" }, h("div", { class: "alert-text" }, `Preference "${k}" saved.`)));
      setTimeout(() => formStatus.replaceChildren(), 4000);
      await load();
    } catch (error) {
      if (error.name === "AbortError") return;
      tracker.track({ event_type: "preference_changed", element_id: "pref-save", success: false, metadata: { key: k, error_code: error.error_code } });
      formStatus.replaceChildren(errorAlert(error, { title: `Could not save "${k}"` }));
    } finally {
      updateSave();
    }
  });

  function edit(row) {
    key.value = row.preference_key;
    lastKey = row.preference_key;
    editor.setValue(row.preference_value);
    updateSave();
    editor.textarea.focus();
  }

  function confirmDelete(row) {
    const confirmButton = h("button", { class: "btn btn-danger", type: "button", "data-track-id": "pref-delete-confirm" }, "Delete");
    const cancel = h("button", { class: "btn", type: "button" }, "Cancel");
    dialog.replaceChildren(
      h("h2", { id: "pref-del-title" }, `Delete "${row.preference_key}"?`),
      h("p", {}, "The stored value is removed for good."),
      h("div", { class: "actions" }, cancel, confirmButton),
    );
    cancel.addEventListener("click", () => dialog.close());
    confirmButton.addEventListener("click", async () => {
      confirmButton.disabled = true;
      try {
        await fn("preferencesDelete")(row.preference_key, { signal });
        dialog.close();
        tracker.track({ event_type: "preference_deleted", element_id: "pref-delete", success: true, metadata: { key: row.preference_key } });
        if (row.preference_key === "theme") preferenceChanged("theme", { mode: "system" });
        toast(`Preference "${row.preference_key}" deleted.`, "success");
        await load();
      } catch (error) {
        dialog.close();
        if (error.name !== "AbortError") formStatus.replaceChildren(errorAlert(error, { title: `Could not delete "${row.preference_key}"` }));
        await load();
      }
    });
    dialog.showModal();
    cancel.focus();
  }

  async function load() {
    refresh.disabled = true;
    try {
      rows = await fn("preferencesList")({}, { signal });
      rows.sort((a, b) => a.preference_key.localeCompare(b.preference_key));
      if (!rows.length) {
        listBody.replaceChildren(h("p", { class: "empty" }, "No preferences yet. Create your first one above."));
      } else {
        listBody.replaceChildren(
          h(
            "ul",
            { class: "pref-list" },
            rows.map((row) =>
              h(
                "li",
                { dataset: { key: row.preference_key } },
                h(
                  "div",
                  { class: "pref-head" },
                  h("h3", { class: "mono" }, row.preference_key),
                  h("span", { class: "muted small" }, `Updated ${formatTime(row.updated_at)}`),
                  h(
                    "div",
                    { class: "actions" },
                    h("button", { class: "btn btn-small", type: "button", "aria-label": `Edit ${row.preference_key}`, "data-track-id": "pref-edit", on: { click: () => edit(row) } }, "Edit"),
                    h("button", { class: "btn btn-small btn-danger", type: "button", "aria-label": `Delete ${row.preference_key}`, "data-track-id": "pref-delete", on: { click: () => confirmDelete(row) } }, "Delete"),
                  ),
                ),
                h("pre", {}, pretty(row.preference_value)),
              ),
            ),
          ),
        );
      }
    } catch (error) {
      if (error.name !== "AbortError") listBody.replaceChildren(errorAlert(error, { title: "Could not load your preferences", onRetry: load }));
    } finally {
      refresh.disabled = false;
      updateSave();
    }
  }
  refresh.addEventListener("click", load);

  updateSave();
  await load();
  // Start from the stored theme when there is one.
  const theme = rows.find((r) => r.preference_key === "theme");
  if (theme && key.value === "theme") editor.setValue(theme.preference_value);
  updateSave();
}
