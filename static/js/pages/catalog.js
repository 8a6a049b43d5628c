// Unity Catalog browser: cascading catalog → schema → table selects and a paged, typed preview.
// The total row count is asked for once per table (it costs a second statement), not per page.

import { fn, h, pageHeader, errorAlert, selectField, setOptions, formatNumber, formatMs, uid } from "../ui.js";

const PAGE_SIZES = [10, 25, 50, 100, 500];
const NUMERIC = /^(tinyint|smallint|int|integer|bigint|long|short|byte|float|double|real|decimal|numeric)/i;

export async function render(root, { signal, tracker }) {
  root.append(pageHeader("Unity Catalog", "Browse the catalogs, schemas and tables you can read, and preview a table's rows."));

  const catalog = selectField("Catalog", [], { "data-track-id": "uc-catalog", disabled: true });
  const schema = selectField("Schema", [], { "data-track-id": "uc-schema", disabled: true });
  const table = selectField("Table", [], { "data-track-id": "uc-table", disabled: true });
  setOptions(schema.select, [], "Choose a catalog first");
  setOptions(table.select, [], "Choose a schema first");
  const queryButton = h("button", { class: "btn btn-primary", type: "button", disabled: true, "data-track-id": "uc-query" }, "Preview table");
  const selectError = h("div");
  const result = h("div", { "aria-live": "polite" });
  root.append(
    h("section", { class: "card", "aria-label": "Choose a table" }, h("div", { class: "fields" }, catalog.field, schema.field, table.field, h("div", { class: "field narrow" }, queryButton)), selectError),
    result,
  );

  const view = { key: null, limit: 25, offset: 0, total: null, loading: false };
  let generation = 0; // ignores answers to a selection that has changed since

  async function loadList(select, call, placeholder, emptyText) {
    const mine = ++generation;
    select.disabled = true;
    setOptions(select, [], "Loading…");
    selectError.replaceChildren();
    try {
      const names = await call();
      if (mine !== generation) return;
      setOptions(select, names, names.length ? placeholder : emptyText);
      select.disabled = names.length === 0;
    } catch (error) {
      if (error.name === "AbortError" || mine !== generation) return;
      setOptions(select, [], "Could not load");
      selectError.replaceChildren(errorAlert(error, { title: "Could not load the list", onRetry: () => loadList(select, call, placeholder, emptyText) }));
    }
  }

  function reset(select, text) {
    setOptions(select, [], text);
    select.disabled = true;
  }

  function updateButton() {
    queryButton.disabled = !(catalog.select.value && schema.select.value && table.select.value) || view.loading;
  }

  catalog.select.addEventListener("change", () => {
    reset(schema.select, "Choose a catalog first");
    reset(table.select, "Choose a schema first");
    updateButton();
    const c = catalog.select.value;
    if (c) loadList(schema.select, () => fn("ucSchemas")({ catalog: c }, { signal }), "Choose a schema", "No schemas");
  });
  schema.select.addEventListener("change", () => {
    reset(table.select, "Choose a schema first");
    updateButton();
    const c = catalog.select.value;
    const s = schema.select.value;
    if (s) loadList(table.select, () => fn("ucTableNames")({ catalog: c, schema: s }, { signal }), "Choose a table", "No tables");
  });
  table.select.addEventListener("change", updateButton);
  queryButton.addEventListener("click", () => {
    view.key = { catalog: catalog.select.value, schema: schema.select.value, table: table.select.value };
    view.offset = 0;
    view.total = null;
    query(true);
  });

  async function query(includeTotal) {
    view.loading = true;
    updateButton();
    queryButton.textContent = "Querying…";
    const busy = result.querySelector("table.data");
    if (busy) busy.setAttribute("aria-busy", "true");
    else result.replaceChildren(h("div", { class: "skeleton block", role: "status", "aria-label": "Querying" }));
    const started = performance.now();
    try {
      const data = await fn("ucQuery")({ ...view.key, limit: view.limit, offset: view.offset, include_total: includeTotal }, { signal });
      if (includeTotal) view.total = data.total_row_count;
      result.replaceChildren(renderTable(data, Math.round(performance.now() - started)));
      tracker.track({ event_type: "table_query", element_id: "uc-query", success: true, metadata: { page_size: view.limit, offset: view.offset } });
    } catch (error) {
      if (error.name === "AbortError") return;
      result.replaceChildren(errorAlert(error, { title: "The query failed", onRetry: () => query(includeTotal) }));
      tracker.track({ event_type: "table_query", element_id: "uc-query", success: false, metadata: { error_code: error.error_code } });
    } finally {
      view.loading = false;
      queryButton.textContent = "Preview table";
      updateButton();
    }
  }

  function renderTable(data, latency) {
    const name = `${data.catalog}.${data.schema}.${data.table}`;
    const total = view.total;
    const first = data.row_count ? view.offset + 1 : 0;
    const last = view.offset + data.row_count;
    const pages = total !== null && total !== undefined ? Math.max(1, Math.ceil(total / view.limit)) : null;
    const page = Math.floor(view.offset / view.limit) + 1;
    const hasNext = pages !== null ? page < pages : data.row_count === view.limit;

    const sizeId = uid("page-size");
    const size = h("select", { id: sizeId, "data-track-id": "uc-page-size" }, PAGE_SIZES.map((n) => h("option", { value: n, selected: n === view.limit }, String(n))));
    size.addEventListener("change", () => {
      view.limit = Number(size.value);
      view.offset = 0;
      query(false);
    });
    const prev = h("button", { class: "btn btn-small", type: "button", disabled: page <= 1, "data-track-id": "uc-prev" }, "Previous");
    const next = h("button", { class: "btn btn-small", type: "button", disabled: !hasNext, "data-track-id": "uc-next" }, "Next");
    prev.addEventListener("click", () => {
      view.offset = Math.max(0, view.offset - view.limit);
      query(false);
    });
    next.addEventListener("click", () => {
      view.offset += view.limit;
      query(false);
    });
    const status = `Showing ${formatNumber(first)}–${formatNumber(last)} of ${total !== null && total !== undefined ? formatNumber(total) : "?"} rows`;
    const pager = h(
      "div",
      { class: "pager" },
      h("span", { class: "status", "data-testid": "row-range" }, status),
      h("label", { for: sizeId }, "Rows per page"),
      size,
      prev,
      h("span", { "data-testid": "page-number" }, pages ? `Page ${page} of ${pages}` : `Page ${page}`),
      next,
    );

    const card = h(
      "section",
      { class: "card", "aria-label": `Preview of ${name}` },
      h("div", { class: "card-header" }, h("h2", {}, name), h("span", { class: "muted small" }, `${formatMs(data.execution_time_ms)} on the warehouse · ${formatMs(latency)} in total`)),
      h("details", {}, h("summary", { class: "small" }, "SQL statement"), h("pre", {}, data.sql_statement)),
      pager,
    );
    if (!data.rows.length) {
      card.append(h("p", { class: "empty" }, view.offset ? "No rows on this page." : `No data in ${name}.`));
      return card;
    }
    const numeric = data.columns.map((c) => NUMERIC.test(c.type_name || ""));
    const tableEl = h(
      "table",
      { class: "data" },
      h("caption", { class: "visually-hidden" }, `${name}, page ${page}`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          data.columns.map((c, i) => h("th", { scope: "col", class: numeric[i] ? "num" : null }, c.name, h("span", { class: "type" }, (c.type_name || "").toLowerCase()))),
        ),
      ),
      h(
        "tbody",
        {},
        data.rows.map((row) =>
          h(
            "tr",
            {},
            row.map((cell, i) => cellElement(cell, numeric[i])),
          ),
        ),
      ),
    );
    card.append(h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `Rows of ${name}` }, tableEl));
    return card;
  }

  await loadList(catalog.select, () => fn("ucCatalogs")({ signal }), "Choose a catalog", "No catalogs");
}

function cellElement(cell, numeric) {
  if (cell === null || cell === undefined) return h("td", { class: numeric ? "num" : null }, h("span", { class: "null" }, "NULL"));
  if (typeof cell === "object") return h("td", { class: "wrap mono" }, JSON.stringify(cell));
  return h("td", { class: numeric || typeof cell === "number" ? "num" : null }, String(cell));
}
