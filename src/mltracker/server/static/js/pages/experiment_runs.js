// The runs of an experiment: every run of its models in one table (model, run, status,
// started, duration, host, a column per param, exit), sortable and filtered by a box; and
// the cell of a model's latest run in the table of models.

import { debounce, el, link, plural } from "../dom.js";
import { matches } from "../grid.js";
import { pages } from "../nav.js";
import { runColumns, runName, statusBadge } from "../runs.js";
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

/**
 * The Runs view of an experiment page. state: the page's {rq (the filter), rsort, rdesc};
 * save() writes it to the URL. update(runs, models, now) draws it with the latest document.
 */
export function runsView(experimentName, state, save) {
  let now = Date.now() / 1000;
  let modelsById = new Map();
  const modelLabel = (run) => {
    const model = modelsById.get(run.model_id);
    return model ? model.name ?? model.hash : run.model_id.slice(0, 8);
  };
  const base = [
    {
      key: "model", label: "Model", className: "model-name",
      value: modelLabel,
      cell: (run) => {
        const model = modelsById.get(run.model_id);
        return model ? link(pages.model(experimentName, model.hash), modelLabel(run)) : modelLabel(run);
      },
    },
    { key: "name", label: "Run", className: "name", value: runName, cell: runName },
  ];
  const table = new DataTable(base, {
    sort: { key: state.rsort, desc: state.rdesc },
    onSort: (sort) => {
      state.rsort = sort.key;
      state.rdesc = sort.desc;
      save();
    },
    rowKey: (run) => run.id,
    empty: "No runs in this experiment yet: a model's training process is a run of it.",
  });
  const filter = el("input.filter", {
    type: "search", placeholder: "Filter runs by model, name, status, host", value: state.rq,
    "aria-label": "Filter runs",
  });
  const refilter = () => table.setFilter((run) =>
    matches(`${modelLabel(run)} ${runName(run)} ${run.status} ${run.host ?? ""}`, state.rq));
  filter.addEventListener("input", debounce(() => {
    state.rq = filter.value.trim();
    refilter();
    save();
  }, 120));
  const count = el("span.muted");
  const element = el("div.runs-view", {},
    el("div.toolbar", {}, filter, count),
    el("div.card", {}, table.element));

  let columnsKey = null;
  const update = (runs, models, serverNow) => {
    now = serverNow ?? Date.now() / 1000;
    modelsById = new Map(models.map((model) => [model.id, model]));
    const key = JSON.stringify(runs.map((run) => Object.keys(run.params || {})));
    if (key !== columnsKey) {
      columnsKey = key;
      table.setColumns([...base, ...runColumns(runs, () => now)]);
    }
    table.setRows(runs);
    count.textContent = plural(runs.length, "run");
  };
  refilter();
  return { element, update };
}
