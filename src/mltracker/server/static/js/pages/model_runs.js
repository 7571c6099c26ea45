// The runs of a model, above its charts: a table (name, status, started, duration, host, a
// column per param, exit) whose rows show or hide their run's lines on every chart.

import { el, plural } from "../dom.js";
import { NO_RUN, runColumns } from "../runs.js";
import { DataTable } from "../table.js";

/**
 * The runs card of a model page (each run's colour beside it once there are several).
 * book: the page's RunBook; hidden: the Set of hidden run keys; onToggle(key): show or
 * hide a run's lines. refresh() draws it again (statuses, durations, new runs).
 */
export function runsPanel(book, hidden, onToggle) {
  const count = el("span.muted.runs-count");
  const table = new DataTable([], {
    sort: { key: "started_at", desc: false },
    rowKey: (run) => (run.noRun ? "none" : run.id),
    rowClass: (run) => (hidden.has(run.noRun ? NO_RUN : run.id) ? "hidden-run" : ""),
    onRow: (run) => onToggle(run.noRun ? NO_RUN : run.id),
    empty: "No runs.",
  });
  const element = el("section.card.runs-card", { "aria-label": "Runs" },
    el("div.card-head", {}, el("h2", {}, "Runs"), count,
      el("span.muted.hint-inline", {}, "Click a run to hide or show its lines.")),
    table.element);

  const shown = (key) => el("span.run-toggle", {},
    el("input", {
      type: "checkbox",
      checked: !hidden.has(key),
      title: "Show its lines",
      "aria-label": `Show the lines of ${book.label(key)}`,
      onchange: () => onToggle(key),
    }),
    book.size > 1 ? el("i.swatch", { style: `background:${book.color(key)}` }) : null);

  const columns = () => [
    {
      key: "shown", label: "", className: "select",
      header: () => el("span.visually-hidden", {}, "Shown"),
      cell: (run) => shown(run.noRun ? NO_RUN : run.id),
    },
    {
      key: "name", label: "Run", className: "name",
      value: (run) => book.label(run.noRun ? NO_RUN : run.id),
      cell: (run) => book.label(run.noRun ? NO_RUN : run.id),
    },
    ...runColumns(book.rows().filter((run) => !run.noRun), () => book.now),
  ];

  let keys = "";
  let drawn = "";
  const refresh = () => {
    const rows = book.rows();
    const columnsKey = JSON.stringify(rows.map((run) => [run.id, Object.keys(run.params || {})]));
    if (columnsKey !== keys) {
      keys = columnsKey;
      drawn = "";
      table.setColumns(columns());
    }
    // Drawn again only when something shown changed (a running run's duration does).
    const shownKey = JSON.stringify([[...hidden], rows.map((run) => [
      run.id, run.name, run.status, run.ended_at, run.exit, run.status === "running" ? book.now : null,
    ])]);
    if (shownKey !== drawn) {
      drawn = shownKey;
      table.setRows(rows);
    }
    const runs = rows.filter((run) => !run.noRun).length;
    count.textContent = plural(runs, "run") + (hidden.size ? ` · ${hidden.size} hidden` : "");
    element.hidden = rows.length === 0;
  };
  refresh();
  return { element, refresh };
}
