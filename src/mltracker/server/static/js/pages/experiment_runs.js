// The runs of an experiment: every run of its models in one table (model, run, status,
// started, duration, host, a column per param, the summary columns picked, exit), searched
// and ordered by the server in the grammar of run searches (README, Sweeps); and the cell of
// a model's latest run in the table of models.

import { get, post } from "../api.js";
import { debounce, el, formatValue, link, plural, seriesLabel } from "../dom.js";
import { pages } from "../nav.js";
import { paramKeysVaryFirst, runColumns, runName, searchName, statusBadge } from "../runs.js";
import { DataTable } from "../table.js";

/** The runs of each model (oldest first), by model id. */
export function runsByModel(runs) {
  const found = new Map();
  for (const run of runs) {
    if (!found.has(run.model_id)) found.set(run.model_id, []);
    found.get(run.model_id).push(run);
  }
  return found;
}

/** The table-of-models column of each model's latest run: its status badge and how many runs
 * the model has. latestOf(row) -> [the latest run or null, the number of runs]. */
export function latestRunColumn(latestOf) {
  return {
    key: "run",
    label: "Latest run",
    title: "Sort by the status of the latest run",
    value: (row) => latestOf(row)[0]?.status ?? null,
    cell: (row) => {
      const [run, count] = latestOf(row);
      if (!run) return el("span.muted", {}, "—");
      return el("span.run-cell", { dataset: { status: run.status } },
        statusBadge(run.status, `${runName(run)}: ${run.status}`),
        count > 1 || run.name !== null
          ? el("span.run-count", { title: `${runName(run)}: its latest of ${plural(count, "run")}` },
            count > 1 ? `${runName(run)} · ${count} runs` : runName(run))
          : null);
    },
  };
}

/** The order of the runs without one: the newest first. */
const DEFAULT_ORDER = "run.started_at DESC";

/** The aggregates a summary column may show. */
export const AGGREGATES = ["last", "min", "max"];

/** The field of a summary column: metrics.NAME[@PHASE].AGG, names quoted as a search needs. */
export function summaryField(name, phase, aggregate) {
  return `metrics.${searchName(name)}${phase === null ? "" : `@${searchName(phase)}`}.${aggregate}`;
}

const unquote = (text) => (text.length > 1 && text.startsWith("`") && text.endsWith("`") ? text.slice(1, -1) : text);

/** {name, phase, aggregate} of a summary field (as summaryField writes it), or null. */
export function parseSummaryField(field) {
  const found = /^metrics\.(`[^`]*`|[^@`]+)(?:@(`[^`]*`|[^`]+))?\.(last|min|max)$/.exec(field);
  if (!found) return null;
  return { name: unquote(found[1]), phase: found[2] === undefined ? null : unquote(found[2]), aggregate: found[3] };
}

const NON_FINITE = { nan: NaN, inf: Infinity, "-inf": -Infinity };

/** A value of a summary document: a number, a boolean, a string, or {text} (JSON values,
 * integers too big for a double). */
export function summaryValue(value) {
  if (value === null || value === undefined || typeof value !== "object") return value ?? null;
  if (Array.isArray(value.exact)) {
    const [kind, text] = value.exact;
    if (kind === 0) return text in NON_FINITE ? NON_FINITE[text] : Number(text);
    if (kind === 1 && Number.isSafeInteger(Number(text))) return Number(text);
    return { text };
  }
  return { text: JSON.stringify(value) };
}

/** Where a search's error points: {what: "where" or "order_by", position} of a message
 * "bad where: ... at position 12 in '...'", or null. */
export function errorPosition(message) {
  const found = /^bad (where|order_by):.* at position (\d+) in /s.exec(message);
  return found ? { what: found[1], position: Number(found[2]) } : null;
}

/**
 * The Runs view of an experiment page. state: the page's {where, order_by (the search, ""
 * for none: every run, the newest first), rcols (the summary columns' fields)}; save(push)
 * writes it to the URL (push: as a new history entry). update(runs, models, now, experiment)
 * draws it with the page's latest document (its runs, oldest first) and asks the server
 * again for the search and the summaries: the rows are updated in place.
 */
export function runsView(experimentName, state, save) {
  let now = Date.now() / 1000;
  let modelsById = new Map();
  let experimentId = null;
  let everyRun = [];
  let shown = null; // the runs of the last good answer
  let summaries = new Map(); // run id -> Map(seriesLabel -> summary)
  let series = []; // [{name, phase, label}] of the summaries read
  let asked = 0;
  const modelLabel = (run) => {
    const model = modelsById.get(run.model_id);
    return model ? model.name ?? model.hash : run.model_id.slice(0, 8);
  };
  const base = [
    {
      key: "model", label: "Model", className: "model-name", field: "model.name",
      value: modelLabel,
      cell: (run) => {
        const model = modelsById.get(run.model_id);
        return model ? link(pages.model(experimentName, model.hash), modelLabel(run)) : modelLabel(run);
      },
    },
    { key: "name", label: "Run", className: "name", field: "run.name", value: runName, cell: runName },
  ];
  const table = new DataTable(base, {
    ordered: true,
    onSort: (sort) => {
      const column = table.columns.find((one) => one.key === sort.key);
      if (!column || !column.field) return;
      state.order_by = `${column.field}${sort.desc ? " DESC" : ""}`;
      orderBox.value = state.order_by;
      save(true);
      refresh();
    },
    rowKey: (run) => run.id,
    empty: "No runs in this experiment yet: a model's training process is a run of it.",
  });

  const box = el("input.filter.search-where", {
    type: "search", value: state.where, spellcheck: false, autocomplete: "off",
    placeholder: "Search runs, e.g. params.lr < 0.01 AND metrics.loss@validation.min < 0.3",
    "aria-label": "Search runs",
  });
  const orderBox = el("input.filter.narrow.search-order", {
    type: "search", value: state.order_by, spellcheck: false, autocomplete: "off",
    placeholder: "Order, e.g. metrics.loss.min DESC", "aria-label": "Order runs",
  });
  const errorBox = el("div.search-error", { role: "alert", hidden: true });
  const commit = () => {
    const where = box.value.trim();
    const orderBy = orderBox.value.trim();
    if (where === state.where && orderBy === state.order_by) return;
    state.where = where;
    state.order_by = orderBy;
    save(true);
    refresh();
  };
  const later = debounce(commit, 500);
  for (const input of [box, orderBox]) {
    input.addEventListener("input", later);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") commit();
    });
  }

  const picker = el("select.add-column", {
    "aria-label": "Add a summary column",
    onchange: () => {
      const field = picker.value;
      picker.value = "";
      if (!field || state.rcols.includes(field)) return;
      state.rcols = [...state.rcols, field];
      save(true);
      draw();
    },
  });
  const chips = el("span.chips.summary-chips");
  const count = el("span.muted.runs-count");
  const element = el("div.runs-view", {},
    el("div.toolbar", {}, box, orderBox, picker, count),
    errorBox,
    el("div.toolbar", {}, chips),
    el("div.card", {}, table.element),
    el("p.muted.hint", {}, "Search in the grammar of run searches: params.KEY, metrics.NAME@PHASE.AGG, ",
      "run.status, model.name..., with = != < <= > >= IN LIKE IS NULL AND OR NOT. ",
      "Click a column's header to order by it."));

  function showError(error) {
    if (!error) {
      errorBox.hidden = true;
      errorBox.replaceChildren();
      return;
    }
    const where = errorPosition(error.message);
    const parts = [el("p.search-message", {}, error.message)];
    if (where) {
      const source = where.what === "where" ? state.where : state.order_by;
      parts.push(el("pre.search-caret", {},
        el("span.search-source", {}, source), "\n",
        el("span.caret", {}, `${" ".repeat(where.position)}^`)));
    }
    errorBox.replaceChildren(...parts);
    errorBox.hidden = false;
  }

  function summaryColumns() {
    return state.rcols.map((field) => {
      const parsed = parseSummaryField(field);
      if (!parsed) return null;
      const label = seriesLabel(parsed.name, parsed.phase);
      const valueOf = (run) => {
        const summary = summaries.get(run.id)?.get(label);
        return summary ? summaryValue(summary[parsed.aggregate]) : null;
      };
      return {
        key: `summary:${field}`, label: `${label} ${parsed.aggregate}`, field, numeric: true,
        className: "metric summary", title: `Order by ${field}`,
        value: valueOf,
        cell: (run) => {
          const value = valueOf(run);
          if (value === null) return el("span.muted", {}, "—");
          const text = formatValue(value);
          return typeof value === "number" && !Number.isFinite(value) ? el("span.special", {}, text) : text;
        },
      };
    }).filter(Boolean);
  }

  let columnsKey = null;
  let pickerKey = null;
  let drawnHead = null;
  function draw() {
    const runs = shown ?? [];
    const keys = paramKeysVaryFirst(runs);
    const key = JSON.stringify([keys, state.rcols]);
    if (key !== columnsKey) {
      columnsKey = key;
      const columns = [...base, ...runColumns(runs, () => now, { keys, extra: summaryColumns() })];
      for (const column of columns) if (!column.field) column.sortable = false;
      table.columns = columns;
      chips.replaceChildren(...state.rcols.map((field) => el("span.model-chip.summary-chip", {}, field, el("button.remove", {
        type: "button", title: `Remove the column ${field}`, "aria-label": `Remove the column ${field}`,
        onclick: () => {
          state.rcols = state.rcols.filter((one) => one !== field);
          save(true);
          draw();
        },
      }, "×"))));
    }
    const order = /^\s*(.+?)(\s+(ASC|DESC))?\s*$/i.exec(state.order_by || DEFAULT_ORDER);
    const sorted = order && !order[1].includes(",") && table.columns.find((one) => one.field === order[1]);
    const sort = sorted ? { key: sorted.key, desc: (order[3] || "").toUpperCase() === "DESC" } : null;
    const headKey = JSON.stringify([columnsKey, sort]);
    if (headKey !== drawnHead) {
      drawnHead = headKey;
      table.sort = sort;
      table.renderHead();
    }
    table.setRows(runs);
    const options = series.flatMap((one) => AGGREGATES.map((aggregate) => summaryField(one.name, one.phase, aggregate)))
      .filter((field) => !state.rcols.includes(field));
    const optionsKey = JSON.stringify(options);
    if (optionsKey !== pickerKey) {
      pickerKey = optionsKey;
      picker.replaceChildren(el("option", { value: "" }, series.length ? "Add a column…" : "No series yet"),
        ...options.map((field) => el("option", { value: field }, field)));
    }
    const searching = state.where !== "" || state.order_by !== "";
    count.textContent = searching && state.where !== ""
      ? `${plural(runs.length, "run")} of ${everyRun.length}` : plural(runs.length, "run");
  }

  /** Ask the server for the search (if any) and the summaries of its runs, and draw them; an
   * error shows under the box, and the table keeps the last good answer (a poll while the
   * search is wrong updates the rows of the last good search). */
  let good = null; // the last search answered
  let summaryPolls = 0;
  let summariesRead = false;
  let failed = null; // the search in the box, if it was refused
  async function refresh(polled = false) {
    const ticket = ++asked;
    const current = JSON.stringify([state.where, state.order_by]);
    const asking = polled && failed === current && good !== null ? good : current;
    const [where, orderBy] = JSON.parse(asking);
    try {
      let runs;
      if (!where && !orderBy) runs = [...everyRun].reverse();
      else if (experimentId === null) return;
      else {
        runs = await get(`/experiments/${experimentId}/runs`,
          { where: where || null, order_by: orderBy || DEFAULT_ORDER });
      }
      // the summaries: for the columns picked, else for the picker's series (a poll asks
      // them one time in five)
      const needed = !polled || state.rcols.length > 0 || !summariesRead || ++summaryPolls % 5 === 0;
      const found = !needed ? null
        : runs.length ? await post("/runs/summaries", { run_ids: runs.map((run) => run.id) }) : [];
      if (ticket !== asked) return;
      good = asking;
      if (asking === current) {
        failed = null;
        showError(null);
      }
      if (found !== null) {
        summariesRead = true;
        summaries = new Map();
        const names = new Map();
        for (const summary of found) {
          const label = seriesLabel(summary.name, summary.phase);
          if (!summaries.has(summary.run_id)) summaries.set(summary.run_id, new Map());
          summaries.get(summary.run_id).set(label, summary);
          if (!names.has(label)) names.set(label, { name: summary.name, phase: summary.phase, label });
        }
        series = [...names.values()].sort((a, b) => a.label.localeCompare(b.label));
      }
      shown = runs;
      draw();
    } catch (error) {
      if (ticket !== asked) return;
      if (asking === current) failed = current;
      showError(error);
    }
  }

  const update = (runs, models, serverNow, experiment) => {
    now = serverNow ?? Date.now() / 1000;
    modelsById = new Map(models.map((model) => [model.id, model]));
    everyRun = runs;
    if (experiment) experimentId = experiment.id;
    return refresh(true);
  };
  return { element, update };
}
