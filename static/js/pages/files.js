// Files: browse a Unity Catalog volume (volume picker, breadcrumbs, directories first), upload
// several files at once (picker or drag and drop; a progress bar per file; the raw bytes are
// PUT, streamed by the server), download, delete after confirming, and create folders. Every
// call runs with the signed-in user's own permissions.

import { fn, h, pageHeader, errorAlert, formatNumber, formatTime, toast, uid, setOptions } from "../ui.js";

const VOLUME_SEGMENTS = 4; // ["", "Volumes", catalog, schema, volume] → the root has 5 parts

/** Human size: 1.5 MB, 12 KB, 3 B. */
export function formatSize(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} B` : `${n.toLocaleString("en-US", { maximumFractionDigits: 1 })} ${units[i]}`;
}

/** The client-side form of the server's path rule, so obvious mistakes are caught early. */
export function pathProblem(path) {
  if (!path.startsWith("/Volumes/")) return "A path starts with /Volumes/.";
  const parts = path.replace(/\/$/, "").split("/").slice(1);
  if (parts.length < VOLUME_SEGMENTS) return "A path names at least a volume: /Volumes/<catalog>/<schema>/<volume>.";
  if (parts.some((p) => p === "" || p === "." || p === "..")) return "A path has no empty, . or .. segments.";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(path)) return "A path has no control characters.";
  if (path.length > 4096) return "A path has at most 4096 characters.";
  return null;
}

function downloadHref(path) {
  return `/api/files/download?path=${encodeURIComponent(path)}`;
}

export async function render(root, { signal, tracker }) {
  const refresh = h("button", { class: "btn", type: "button", "data-track-id": "files-refresh" }, "Refresh");
  root.append(pageHeader("Files", "Files in Unity Catalog volumes, with your own permissions.", refresh));

  // ---- where: volume picker and a path box ----------------------------------------------------
  const volumeId = uid("files-volume");
  const volumeSelect = h("select", { id: volumeId, "data-track-id": "files-volume" });
  const pathId = uid("files-path");
  const pathInput = h("input", { id: pathId, type: "text", class: "mono", placeholder: "/Volumes/catalog/schema/volume", autocomplete: "off", spellcheck: "false", "data-track-id": "files-path" });
  const openButton = h("button", { class: "btn", type: "submit", "data-track-id": "files-open" }, "Open");
  const whereForm = h(
    "form",
    { class: "card", "aria-label": "Choose a location" },
    h(
      "div",
      { class: "fields" },
      h("div", { class: "field" }, h("label", { for: volumeId }, "Volume"), volumeSelect),
      h("div", { class: "field grow" }, h("label", { for: pathId }, "Path"), pathInput),
      h("div", { class: "field narrow" }, openButton),
    ),
  );

  // ---- actions: upload (picker + drop zone), new folder ---------------------------------------
  const fileInputId = uid("files-upload");
  const fileInput = h("input", { id: fileInputId, type: "file", multiple: true, class: "visually-hidden", "data-track-id": "files-upload-input" });
  const dropZone = h(
    "div",
    { class: "dropzone", "data-testid": "dropzone" },
    h("p", {}, "Drop files here, or "),
    h("label", { for: fileInputId, class: "btn btn-primary" }, "Choose files to upload"),
    fileInput,
  );
  const folderId = uid("files-folder");
  const folderInput = h("input", { id: folderId, type: "text", autocomplete: "off", spellcheck: "false", "data-track-id": "files-folder-name" });
  const folderButton = h("button", { class: "btn", type: "submit", "data-track-id": "files-folder-create" }, "New folder");
  const folderForm = h(
    "form",
    { class: "fields", "aria-label": "New folder" },
    h("div", { class: "field" }, h("label", { for: folderId }, "Folder name"), folderInput),
    h("div", { class: "field narrow" }, folderButton),
  );
  const uploads = h("ul", { class: "uploads", "aria-label": "Uploads" });
  const actionsCard = h("section", { class: "card", "aria-labelledby": "files-actions-heading" }, h("h2", { id: "files-actions-heading" }, "Add"), dropZone, uploads, folderForm);

  // ---- listing --------------------------------------------------------------------------------
  const crumbs = h("nav", { "aria-label": "Breadcrumb", class: "breadcrumbs" });
  const status = h("div", { "aria-live": "polite" });
  const listing = h("div", {});
  const listCard = h("section", { class: "card", "aria-labelledby": "files-list-heading" }, h("h2", { id: "files-list-heading" }, "Contents"), crumbs, status, listing);
  const dialog = h("dialog", { "aria-labelledby": "files-del-title" });
  root.append(whereForm, actionsCard, listCard, dialog);

  let current = null; // the directory shown
  let volumes = [];

  function volumeRoot(path) {
    return path.split("/").slice(0, VOLUME_SEGMENTS + 1).join("/");
  }

  function renderCrumbs(path) {
    const parts = path.split("/");
    const rootPath = volumeRoot(path);
    const items = [h("li", {}, h("a", { href: "#/files", "data-path": rootPath, on: { click: (e) => { e.preventDefault(); open(rootPath); } } }, rootPath))];
    for (let i = VOLUME_SEGMENTS + 1; i < parts.length; i += 1) {
      const p = parts.slice(0, i + 1).join("/");
      const last = i === parts.length - 1;
      items.push(
        h(
          "li",
          {},
          last
            ? h("span", { "aria-current": "location" }, parts[i])
            : h("a", { href: "#/files", "data-path": p, on: { click: (e) => { e.preventDefault(); open(p); } } }, parts[i]),
        ),
      );
    }
    crumbs.replaceChildren(h("ol", {}, items));
  }

  function row(entry) {
    const name = entry.is_directory
      ? h("button", { class: "link", type: "button", "data-track-id": "files-open-dir", "aria-label": `Open folder ${entry.name}`, on: { click: () => open(entry.path) } }, `📁 ${entry.name}`)
      : h("span", {}, entry.name);
    const actions = h("div", { class: "actions" });
    if (!entry.is_directory) {
      actions.append(h("a", { class: "btn btn-small", href: downloadHref(entry.path), download: entry.name, "aria-label": `Download ${entry.name}`, "data-track-id": "files-download" }, "Download"));
    }
    actions.append(h("button", { class: "btn btn-small btn-danger", type: "button", "aria-label": `Delete ${entry.name}`, "data-track-id": "files-delete", on: { click: () => confirmDelete(entry) } }, "Delete"));
    return h(
      "tr",
      { dataset: { name: entry.name } },
      h("td", {}, name),
      h("td", { class: "num" }, entry.is_directory ? "–" : formatSize(entry.size)),
      h("td", {}, formatTime(entry.modified_at)),
      h("td", {}, actions),
    );
  }

  async function open(path) {
    const clean = path.replace(/\/$/, "");
    const problem = pathProblem(clean);
    if (problem) {
      status.replaceChildren(h("div", { class: "alert alert-error", role: "alert" }, h("div", { class: "alert-text" }, problem)));
      return;
    }
    current = clean;
    pathInput.value = clean;
    renderCrumbs(clean);
    await load();
  }

  async function load() {
    if (!current) return;
    refresh.disabled = true;
    status.replaceChildren(h("p", { class: "muted", role: "status" }, "Loading…"));
    try {
      const result = await fn("filesList")({ path: current }, { signal });
      status.replaceChildren();
      if (result.truncated) {
        status.append(h("div", { class: "alert alert-warning", role: "status" }, h("div", { class: "alert-text" }, `Showing the first ${formatNumber(result.entries.length)} entries.`)));
      }
      if (!result.entries.length) {
        listing.replaceChildren(h("p", { class: "empty" }, "This folder is empty. Upload files or create a folder above."));
        return;
      }
      listing.replaceChildren(
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "data files-table" },
            h("caption", {}, `${formatNumber(result.entries.length)} entries in ${current}`),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col", class: "num" }, "Size"), h("th", { scope: "col" }, "Modified"), h("th", { scope: "col" }, "Actions"))),
            h("tbody", {}, result.entries.map(row)),
          ),
        ),
      );
    } catch (error) {
      if (error.name === "AbortError") return;
      listing.replaceChildren();
      status.replaceChildren(errorAlert(error, { title: `Could not list ${current}`, onRetry: load }));
    } finally {
      refresh.disabled = false;
    }
  }

  // ---- uploads ----------------------------------------------------------------------------------
  function upload(file, overwrite = false) {
    if (!current) {
      toast("Choose a volume first.", "error");
      return;
    }
    const target = `${current}/${file.name}`;
    const progressId = uid("upload-progress");
    const bar = h("progress", { id: progressId, max: "100", value: "0" });
    const label = h("label", { for: progressId }, file.name);
    const note = h("span", { class: "muted small", "aria-live": "polite" }, `0 of ${formatSize(file.size)}`);
    const item = h("li", { dataset: { name: file.name } }, label, bar, note);
    uploads.append(item);
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/api/files/upload?path=${encodeURIComponent(target)}&overwrite=${overwrite}`);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      bar.value = Math.round((event.loaded / event.total) * 100);
      note.textContent = `${formatSize(event.loaded)} of ${formatSize(event.total)}`;
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 201) {
        bar.value = 100;
        item.dataset.state = "done";
        note.textContent = `Uploaded (${formatSize(body ? body.size : file.size)})`;
        tracker.track({ event_type: "file_uploaded", element_id: "files-upload", success: true, metadata: { size: file.size } });
        load();
        return;
      }
      item.dataset.state = "error";
      const message = (body && body.message) || `HTTP ${xhr.status}`;
      note.textContent = `Failed: ${message}`;
      if (xhr.status === 409 && body && body.error_code === "FILE_EXISTS") {
        item.append(h("button", { class: "btn btn-small", type: "button", "data-track-id": "files-replace", on: { click: () => { item.remove(); upload(file, true); } } }, `Replace ${file.name}`));
      }
      tracker.track({ event_type: "file_uploaded", element_id: "files-upload", success: false, metadata: { status: xhr.status } });
    });
    xhr.addEventListener("error", () => {
      item.dataset.state = "error";
      note.textContent = "Failed: the server could not be reached.";
    });
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(file);
  }

  function uploadAll(files) {
    for (const file of files) upload(file);
  }

  fileInput.addEventListener("change", () => {
    uploadAll([...fileInput.files]);
    fileInput.value = "";
  });
  dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropZone.classList.add("dragging");
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropZone.classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files) uploadAll([...event.dataTransfer.files]);
  });

  // ---- new folder, delete -----------------------------------------------------------------------
  folderForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = folderInput.value.trim();
    if (!current || !name) return;
    if (name.includes("/") || name === "." || name === "..") {
      toast("A folder name has no / and is not . or ..", "error");
      return;
    }
    folderButton.disabled = true;
    try {
      await fn("filesDirectoryCreate")({ path: `${current}/${name}` }, { signal });
      folderInput.value = "";
      toast(`Folder "${name}" created.`, "success");
      await load();
    } catch (error) {
      if (error.name !== "AbortError") status.replaceChildren(errorAlert(error, { title: `Could not create "${name}"` }));
    } finally {
      folderButton.disabled = false;
    }
  });

  function confirmDelete(entry) {
    const confirmButton = h("button", { class: "btn btn-danger", type: "button", "data-track-id": "files-delete-confirm" }, "Delete");
    const cancel = h("button", { class: "btn", type: "button" }, "Cancel");
    dialog.replaceChildren(
      h("h2", { id: "files-del-title" }, `Delete "${entry.name}"?`),
      h("p", {}, entry.is_directory ? "The folder must be empty. It is removed for good." : "The file is removed for good."),
      h("div", { class: "actions" }, cancel, confirmButton),
    );
    cancel.addEventListener("click", () => dialog.close());
    confirmButton.addEventListener("click", async () => {
      confirmButton.disabled = true;
      try {
        await fn("filesDelete")({ path: entry.path }, { signal });
        dialog.close();
        toast(`"${entry.name}" deleted.`, "success");
      } catch (error) {
        dialog.close();
        if (error.name !== "AbortError") status.replaceChildren(errorAlert(error, { title: `Could not delete "${entry.name}"` }));
      }
      await load();
    });
    dialog.showModal();
    cancel.focus();
  }

  // ---- start ------------------------------------------------------------------------------------
  whereForm.addEventListener("submit", (event) => {
    event.preventDefault();
    open(pathInput.value.trim());
  });
  volumeSelect.addEventListener("change", () => {
    if (volumeSelect.value) open(volumeSelect.value);
  });
  refresh.addEventListener("click", load);

  try {
    volumes = await fn("filesVolumes")({ signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    volumes = [];
    status.replaceChildren(errorAlert(error, { title: "Could not load the configured volumes" }));
  }
  setOptions(
    volumeSelect,
    volumes.map((v) => ({ value: v.path, label: `${v.key} — ${v.path}` })),
    volumes.length ? undefined : "No volumes configured",
  );
  if (volumes.length) {
    await open(volumes[0].path);
  } else {
    listing.replaceChildren(h("p", { class: "empty" }, "Set DATABRICKS_VOLUME_<KEY> to offer volumes here, or type a /Volumes/… path above."));
  }
}
