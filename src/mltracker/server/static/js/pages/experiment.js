// An experiment: its models as a table (hash, name, step, description, the status of its
// latest run, the latest value of each series), sortable and filterable; models picked here
// are compared on one page. The Runs view lists every run of its models.

import { decodePoints, get } from "../api.js";
import { debounce, el, formatCount, formatValue, link, plural, seriesLabel, timeCell } from "../dom.js";
import { matches } from "../grid.js";
import { navigate, pages } from "../nav.js";
import { DataTable } from "../table.js";
import { latestRunColumn, runsByModel, runsView } from "./experiment_runs.js";

/** Above this many series, the table shows the first ones (the column filter picks others). */
const MAX_SERIES_COLUMNS = 16;

export async function experimentPage(ctx) {
  const [name] = ctx.params;
  ctx.crumbs(link(pages.experiments(), "Experiments"), el("span.crumb", {}, name));
  const state = {
    q: ctx.query.get("q") || "",
    cols: ctx.query.get("cols") || "",
    sort: ctx.query.get("sort") || "created_at",
    desc: ctx.query.get("desc") === "1",
    selected: new Set(ctx.list("sel")),
    view: ctx.query.get("view") === "runs" ? "runs" : "models",
    where: ctx.query.get("where") || "",
    order_by: ctx.query.get("order_by") || "",
    rcols: ctx.list("rcols"),
  };
  const save = (push = false) => ctx.setQuery({
    view: state.view === "runs" ? "runs" : null,
    q: state.q, cols: state.cols, sort: state.sort, desc: state.desc ? "1" : null, sel: [...state.selected],
    where: state.where, order_by: state.order_by, rcols: state.rcols,
  }, { push });

  let document = await get("/overview/experiment", { name });
  let series = [];
  let runsOf = runsByModel(document.runs || []);
  const latestOf = (row) => {
    const runs = runsOf.get(row.id) || [];
    return [runs[runs.length - 1] ?? null, runs.length];
  };

  const compareButton = el("button.primary", {
    type: "button",
    onclick: () => navigate(pages.compare(name, [...state.selected])),
  });
  const clearButton = el("button.ghost", {
    type: "button",
    onclick: () => {
      state.selected.clear();
      update();
      save();
    },
  }, "Clear selection");
  const selectAll = el("input", {
    type: "checkbox",
    "aria-label": "Select every model shown",
    onchange: () => {
      for (const row of table.shownRows()) {
        if (selectAll.checked) state.selected.add(row.hash);
        else state.selected.delete(row.hash);
      }
      update();
      save();
    },
  });

  const baseColumns = [
    {
      key: "select",
      header: () => selectAll,
      className: "select",
      cell: (row) => el("input", {
        type: "checkbox",
        checked: state.selected.has(row.hash),
        "aria-label": `Select ${row.name || row.hash}`,
        onchange: (event) => {
          if (event.target.checked) state.selected.add(row.hash);
          else state.selected.delete(row.hash);
          update(false);
          save();
        },
      }),
    },
    { key: "hash", label: "Hash", className: "mono", cell: (row) => link(pages.model(name, row.hash), row.hash) },
    { key: "name", label: "Name", cell: (row) => (row.name ? link(pages.model(name, row.hash), row.name) : el("span.muted", {}, "—")) },
    { key: "step", label: "Step", numeric: true, cell: (row) => formatCount(row.step) },
    { key: "description", label: "Description", className: "description", cell: (row) => row.description ?? "" },
    { key: "points", label: "Points", numeric: true, cell: (row) => formatCount(row.points) },
    { key: "last_activity", label: "Last activity", numeric: true, cell: (row) => timeCell(row.last_activity) },
    latestRunColumn(latestOf),
  ];

  const table = new DataTable(baseColumns, {
    sort: { key: state.sort, desc: state.desc },
    onSort: (sort) => {
      state.sort = sort.key;
      state.desc = sort.desc;
      save();
    },
    rowKey: (row) => row.hash,
    rowClass: (row) => (state.selected.has(row.hash) ? "selected" : ""),
    empty: "No models in this experiment yet.",
  });

  const columnNote = el("span.muted.column-note");
  function seriesColumns() {
    const picked = series.filter((one) => matches(one.label, state.cols));
    const shown = picked.slice(0, MAX_SERIES_COLUMNS);
    columnNote.textContent = picked.length > shown.length
      ? `${shown.length} of ${picked.length} series columns: filter the columns to pick others`
      : series.length ? `${shown.length} of ${series.length} series columns` : "";
    return shown.map((one) => ({
      key: `series:${one.label}`,
      label: one.label,
      numeric: true,
      className: "metric",
      value: (row) => {
        const value = row.latest.get(one.label);
        return typeof value === "number" ? value : null;
      },
      cell: (row) => {
        const value = row.latest.get(one.label);
        if (value === undefined) return "";
        const shownValue = formatValue(value);
        return typeof value === "number" && !Number.isFinite(value) ? el("span.special", {}, shownValue) : shownValue;
      },
    }));
  }

  function rows() {
    const byModel = new Map(document.models.map((model) => [model.id, new Map()]));
    const found = new Map();
    for (const one of decodePoints(document.latest)) {
      const label = seriesLabel(one.name, one.phase);
      if (!found.has(label)) found.set(label, { label, name: one.name, phase: one.phase });
      const latest = byModel.get(one.model);
      if (latest) latest.set(label, one.value[one.value.length - 1]);
    }
    series = [...found.values()].sort((a, b) =>
      a.name === b.name ? String(a.phase ?? "").localeCompare(String(b.phase ?? "")) : a.name.localeCompare(b.name));
    return document.models.map((model) => ({ ...model, latest: byModel.get(model.id) }));
  }

  function update(redraw = true) {
    const count = state.selected.size;
    compareButton.textContent = count ? `Compare ${count} model${count === 1 ? "" : "s"}` : "Compare";
    compareButton.disabled = count === 0;
    clearButton.hidden = count === 0;
    const shown = table.shownRows();
    selectAll.checked = shown.length > 0 && shown.every((row) => state.selected.has(row.hash));
    if (redraw) table.renderBody();
    else {
      for (const tr of table.body.children) tr.classList.toggle("selected", state.selected.has(tr.dataset.key));
    }
  }

  const filter = el("input.filter", {
    type: "search", placeholder: "Filter models by hash, name, description", value: state.q,
    "aria-label": "Filter models",
  });
  const columnFilter = el("input.filter.narrow", {
    type: "search", placeholder: "Filter columns, e.g. loss", value: state.cols, "aria-label": "Filter series columns",
  });
  const refilter = () => {
    table.setFilter((row) => matches(`${row.hash} ${row.name ?? ""} ${row.description ?? ""}`, state.q));
    update(false);
  };
  filter.addEventListener("input", debounce(() => {
    state.q = filter.value.trim();
    refilter();
    save();
  }, 120));
  columnFilter.addEventListener("input", debounce(() => {
    state.cols = columnFilter.value.trim();
    table.setColumns([...baseColumns, ...seriesColumns()]);
    save();
  }, 150));

  const heading = el("p.muted.page-sub");
  const runs = runsView(name, state, save);
  const viewButtons = [["models", "Models"], ["runs", "Runs"]].map(([key, label]) => el("button.tab", {
    type: "button", role: "tab", dataset: { view: key },
    onclick: () => show(key),
  }, label, el("span.tab-count")));
  const modelsPanel = el("div.panel");
  const runsPanel = el("div.panel", {}, runs.element);
  function show(key, write = true) {
    state.view = key;
    for (const button of viewButtons) button.setAttribute("aria-selected", String(button.dataset.view === key));
    modelsPanel.hidden = key !== "models";
    runsPanel.hidden = key !== "runs";
    if (key === "runs") runs.update(document.runs || [], document.models, document.now, document.experiment);
    if (write) save();
  }
  const draw = () => {
    const built = rows();
    runsOf = runsByModel(document.runs || []);
    table.setColumns([...baseColumns, ...seriesColumns()]);
    table.setRows(built);
    if (state.view === "runs") runs.update(document.runs || [], document.models, document.now, document.experiment);
    heading.replaceChildren(
      `${plural(document.models.length, "model")} · ${plural((document.runs || []).length, "run")} · `,
      `${formatCount(series.length)} series · created `,
      timeCell(document.experiment.created_at));
    viewButtons[0].lastChild.textContent = ` ${formatCount(document.models.length)}`;
    viewButtons[1].lastChild.textContent = ` ${formatCount((document.runs || []).length)}`;
    update(false);
  };
  refilter();
  draw();

  modelsPanel.append(
    el("div.toolbar", {}, filter, columnFilter, columnNote, el("span.spacer"), clearButton, compareButton),
    el("div.card", {}, table.element),
    el("p.muted.hint", {}, "Tick models and press Compare to see them on the same charts. Click a column's header to sort by it."));
  ctx.main.replaceChildren(
    el("div.page-head", {}, el("h1", {}, name), heading),
    el("div.tabs.view-tabs", { role: "tablist" }, viewButtons),
    modelsPanel,
    runsPanel,
  );
  show(state.view, false);

  // Counting points reads every point: the polls count them one time in five.
  let polls = 0;
  ctx.every(2000, async () => {
    const counts = ++polls % 5 === 0;
    const fresh = await get("/overview/experiment", { name, counts });
    if (!counts) {
      const known = new Map(document.models.map((model) => [model.id, model.points]));
      for (const model of fresh.models) model.points = known.get(model.id) ?? null;
    }
    document = fresh;
    draw();
  });
}
