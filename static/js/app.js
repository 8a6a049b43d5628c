// The shell: who is signed in, the theme, the hash router and the usage tracker. Pages are
// ES modules under pages/, loaded on first visit, so the first load only fetches the home page.

import * as api from "./api.js";
import { fn, has, h, describeError, toast } from "./ui.js";
import { UsageTracker } from "./tracker.js";

const ROUTES = {
  "/": { name: "home", title: "Home", load: () => import("./pages/home.js") },
  "/catalog": { name: "catalog", title: "Unity Catalog", load: () => import("./pages/catalog.js") },
  "/models": { name: "models", title: "Model Serving", load: () => import("./pages/models.js") },
  "/genie": { name: "genie", title: "Genie", load: () => import("./pages/genie.js") },
  "/files": { name: "files", title: "Files", load: () => import("./pages/files.js") },
  "/preferences": { name: "preferences", title: "Preferences", load: () => import("./pages/preferences.js") },
  "/metrics": { name: "metrics", title: "Metrics", load: () => import("./pages/metrics.js"), admin: true },
};

const THEMES = ["system", "light", "dark"];

const state = {
  user: null,
  userError: null,
  current: null, // {path, controller, cleanup}
};

const tracker = new UsageTracker({
  send: (events) => fn("usageEventsCreate")({ events }),
  beacon: (payload) => api.beacon("usageEventsCreate", payload),
  pageName: () => currentPath(),
});
if (!has("usageEventsCreate")) tracker.disabled = true;

/** `#/catalog?x=1` → "/catalog". */
function currentPath() {
  const hash = location.hash.replace(/^#/, "");
  const path = hash.split("?")[0] || "/";
  return path.startsWith("/") ? path : "/";
}

export function applyTheme(mode) {
  const root = document.documentElement;
  if (mode === "light" || mode === "dark") root.dataset.theme = mode;
  else delete root.dataset.theme;
  const select = document.getElementById("theme-select");
  if (select) select.value = THEMES.includes(mode) ? mode : "system";
}

/** Called by pages when a preference changes, so the shell follows the `theme` one. */
function preferenceChanged(key, value) {
  if (key === "theme") applyTheme(value && value.mode);
}

async function loadTheme() {
  if (!has("preferencesList")) return;
  try {
    const rows = await api.preferencesList({ preference_key: "theme" });
    const row = Array.isArray(rows) ? rows.find((r) => r.preference_key === "theme") : null;
    if (row) applyTheme(row.preference_value && row.preference_value.mode);
  } catch {
    // No stored theme (or no database): the system theme stays.
  }
}

function setupThemePicker() {
  const select = document.getElementById("theme-select");
  select.addEventListener("change", async () => {
    const mode = select.value;
    applyTheme(mode);
    tracker.track({ event_type: "preference_changed", element_id: "theme-select", metadata: { theme: mode } });
    try {
      await fn("preferencesUpsert")({ preference_key: "theme", preference_value: { mode } });
      toast(`Theme set to ${mode}.`, "success");
    } catch (error) {
      toast(`The theme applies to this page only: saving it failed (${describeError(error)}).`, "error", 6000);
    }
  });
}

async function loadUser() {
  const label = document.getElementById("current-user");
  try {
    state.user = await api.userMe();
    label.textContent = state.user.display_name ? `${state.user.display_name} (${state.user.user_name})` : state.user.user_name;
    document.getElementById("nav-metrics-item").hidden = !state.user.is_admin;
    if (state.user.is_admin) preloadWhenIdle(["./pages/metrics.js", "./chart.js"]);
  } catch (error) {
    state.userError = error;
    label.textContent = "Not signed in";
  }
}

/** Fetch modules an admin is likely to open next, once the page is idle (not on first load). */
function preloadWhenIdle(paths) {
  const preload = () => {
    for (const path of paths) {
      document.head.append(h("link", { rel: "modulepreload", href: new URL(path, import.meta.url).pathname }));
    }
  };
  if ("requestIdleCallback" in window) requestIdleCallback(preload, { timeout: 3000 });
  else setTimeout(preload, 1000);
}

async function route() {
  const path = currentPath();
  const entry = ROUTES[path];
  const main = document.getElementById("main");
  const previous = state.current;
  if (previous) {
    previous.controller.abort();
    if (previous.cleanup) previous.cleanup();
  }
  const controller = new AbortController();
  const current = { path, controller, cleanup: null };
  state.current = current;

  for (const a of document.querySelectorAll(".sidenav a")) {
    if (a.getAttribute("href") === `#${path}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  tracker.pageView(path, { route: path, previous: previous ? previous.path : null });

  const container = h("div", { class: "page", "data-page": entry ? entry.name : "not-found" });
  if (!entry) {
    document.title = "Not found · brickbox";
    container.append(
      h("h1", {}, "Page not found"),
      h("p", {}, "There is no page at ", h("code", {}, location.hash), ". ", h("a", { href: "#/" }, "Go home"), "."),
    );
    main.replaceChildren(container);
    return;
  }
  document.title = `${entry.title} · brickbox`;
  try {
    const module = await entry.load();
    if (state.current !== current) return;
    main.replaceChildren(container);
    const cleanup = await module.render(container, {
      user: state.user,
      userError: state.userError,
      signal: controller.signal,
      tracker,
      preferenceChanged,
    });
    if (typeof cleanup === "function") {
      if (state.current === current) current.cleanup = cleanup;
      else cleanup();
    }
    // The page's first data is on screen (used by the end-to-end tests).
    container.dataset.ready = "true";
  } catch (error) {
    if (error && error.name === "AbortError") return;
    console.error(error);
    main.replaceChildren(h("div", { class: "alert alert-error", role: "alert" }, `This page failed to load: ${error.message}`));
  }
  if (previous && state.current === current) main.focus({ preventScroll: true });
}

async function start() {
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
  setupThemePicker();
  tracker.install(window);
  await loadUser();
  loadTheme();
  window.addEventListener("hashchange", route);
  await route();
}

// For the end-to-end tests and for debugging in the console.
window.brickbox = { tracker, applyTheme };

start();
