// Home: who you are, which workspace this app runs in, and the server's health.

import { fn, h, pageHeader, badge, errorAlert, formatTime, formatDuration } from "../ui.js";

export async function render(root, { user, userError, signal }) {
  const name = user ? user.display_name || user.user_name : null;
  root.append(
    pageHeader(name ? `Welcome, ${name}` : "Welcome", "A Databricks App built on brickbox: a Rust runtime that acts on behalf of the signed-in user."),
  );
  const grid = h("div", { class: "grid" });
  root.append(grid);

  grid.append(userCard(user, userError));
  const workspace = h("section", { class: "card", "aria-labelledby": "home-ws" }, h("h2", { id: "home-ws" }, "Workspace"), h("div", { class: "skeleton" }));
  const health = h("section", { class: "card", "aria-labelledby": "home-health" });
  grid.append(workspace, health);
  root.append(gettingStarted());

  const loadHealth = async () => {
    const refresh = h("button", { class: "btn btn-small", type: "button", "data-track-id": "health-refresh" }, "Refresh");
    health.replaceChildren(
      h("div", { class: "card-header" }, h("h2", { id: "home-health" }, "Health"), h("div", { class: "actions" }, refresh)),
    );
    refresh.addEventListener("click", loadHealth);
    try {
      const hl = await fn("health")({ signal });
      const lakebaseKind = { connected: "success", unavailable: "danger", not_configured: "neutral" }[hl.lakebase] || "neutral";
      health.append(
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Status"),
          h("dd", {}, badge(hl.status, hl.status === "healthy" ? "success" : "warning")),
          h("dt", {}, "Lakebase"),
          h("dd", {}, badge(hl.lakebase.replace("_", " "), lakebaseKind)),
          h("dt", {}, "Version"),
          h("dd", {}, hl.version),
          h("dt", {}, "Uptime"),
          h("dd", {}, formatDuration(hl.uptime_seconds)),
          h("dt", {}, "Checked"),
          h("dd", {}, formatTime(hl.timestamp)),
        ),
      );
    } catch (error) {
      if (error.name !== "AbortError") health.append(errorAlert(error, { title: "Health unavailable", onRetry: loadHealth }));
    }
  };

  const loadWorkspace = async () => {
    try {
      const ws = await fn("userWorkspace")({ signal });
      const w = ws.workspace || {};
      workspace.replaceChildren(
        h("h2", { id: "home-ws" }, "Workspace"),
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Name"),
          h("dd", {}, w.name || "–"),
          h("dt", {}, "Host"),
          h("dd", {}, w.host ? h("a", { href: w.host, target: "_blank", rel: "noopener noreferrer" }, w.host) : "–"),
          h("dt", {}, "Workspace id"),
          h("dd", {}, w.workspace_id || "–"),
        ),
      );
    } catch (error) {
      if (error.name !== "AbortError") {
        workspace.replaceChildren(h("h2", { id: "home-ws" }, "Workspace"), errorAlert(error, { title: "Workspace unavailable", onRetry: loadWorkspace }));
      }
    }
  };

  await Promise.all([loadHealth(), loadWorkspace()]);
}

function userCard(user, userError) {
  const card = h("section", { class: "card", "aria-labelledby": "home-user" }, h("h2", { id: "home-user" }, "You"));
  if (!user) {
    card.append(errorAlert(userError, { title: "Could not identify you", onRetry: () => location.reload(), retryLabel: "Reload" }));
    return card;
  }
  card.append(
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Name"),
      h("dd", {}, user.display_name || "–"),
      h("dt", {}, "User name"),
      h("dd", {}, user.user_name),
      h("dt", {}, "E-mail"),
      h("dd", {}, user.emails && user.emails.length ? user.emails.join(", ") : "–"),
      h("dt", {}, "Groups"),
      h("dd", {}, user.groups && user.groups.length ? user.groups.join(", ") : "–"),
      h("dt", {}, "Role"),
      h("dd", {}, user.is_admin ? badge("Admin", "info") : badge("User", "neutral")),
      h("dt", {}, "Active"),
      h("dd", {}, user.active === false ? badge("inactive", "warning") : "yes"),
    ),
  );
  return card;
}

function gettingStarted() {
  const item = (href, title, text) => h("li", {}, h("a", { href, "data-track-id": `home-${href.replace(/[^a-z]/g, "") || "home"}` }, title), ` — ${text}`);
  return h(
    "section",
    { class: "card", "aria-labelledby": "home-start" },
    h("h2", { id: "home-start" }, "What you can do here"),
    h(
      "ul",
      {},
      item("#/catalog", "Unity Catalog", "browse catalogs, schemas and tables, and preview rows with their types."),
      item("#/models", "Model Serving", "list serving endpoints, detect their input format, invoke them and review your history."),
      item("#/preferences", "Preferences", "store JSON settings for yourself, such as the theme."),
      h("li", {}, h("a", { href: "/openapi.json", "data-track-id": "home-openapi" }, "OpenAPI document"), " — every API function this app serves."),
    ),
    h(
      "p",
      { class: "muted small" },
      "Every Databricks call uses your own permissions: the Databricks Apps proxy forwards your token and the app never stores it.",
    ),
  );
}
