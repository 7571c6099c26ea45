// The experiments: name, number of models, points and last activity.

import { get } from "../api.js";
import { debounce, el, formatCount, link, plural, timeCell } from "../dom.js";
import { pages } from "../nav.js";
import { DataTable } from "../table.js";

export async function experimentsPage(ctx) {
  ctx.crumbs(el("span.crumb", {}, "Experiments"));
  const state = {
    q: ctx.query.get("q") || "",
    sort: ctx.query.get("sort") || "last_activity",
    desc: ctx.query.get("desc") !== "0",
  };
  const save = () => ctx.setQuery({ q: state.q, sort: state.sort, desc: state.desc ? null : "0" });

  const table = new DataTable(
    [
      { key: "name", label: "Experiment", cell: (row) => link(pages.experiment(row.name), row.name), className: "name" },
      { key: "models", label: "Models", numeric: true, cell: (row) => formatCount(row.models) },
      { key: "points", label: "Points", numeric: true, cell: (row) => formatCount(row.points) },
      { key: "last_activity", label: "Last activity", numeric: true, cell: (row) => timeCell(row.last_activity) },
      { key: "created_at", label: "Created", numeric: true, cell: (row) => timeCell(row.created_at) },
    ],
    {
      sort: { key: state.sort, desc: state.desc },
      onSort: (sort) => {
        state.sort = sort.key;
        state.desc = sort.desc;
        save();
      },
      rowKey: (row) => row.name,
      empty: "No experiments in this store yet.",
    },
  );
  const filter = el("input.filter", {
    type: "search", placeholder: "Filter experiments", value: state.q, "aria-label": "Filter experiments",
  });
  const refilter = () => {
    const words = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    table.setFilter((row) => words.every((word) => row.name.toLowerCase().includes(word)));
  };
  filter.addEventListener("input", debounce(() => {
    state.q = filter.value.trim();
    refilter();
    save();
  }, 120));
  refilter();

  const summary = el("p.muted.page-sub");
  const load = async (counts = true) => {
    const rows = await get("/overview/experiments", { counts });
    if (!counts) {
      const known = new Map(table.rows.map((row) => [row.id, row.points]));
      for (const row of rows) row.points = known.get(row.id) ?? null;
    }
    table.setRows(rows);
    const models = rows.reduce((sum, row) => sum + row.models, 0);
    summary.textContent = `${plural(rows.length, "experiment")}, ${plural(models, "model")}`;
  };
  await load();

  const empty = el("div.notice.info", { hidden: table.rows.length > 0 },
    el("strong", {}, "No experiments yet. "),
    "Log one from Python (", el("code", {}, "getExperiment(\"mnist\")"), ") or run ",
    el("code", {}, "scripts/demo"), " in the project; this page shows it as soon as it is stored.");
  ctx.main.replaceChildren(
    el("div.page-head", {}, el("h1", {}, "Experiments"), summary),
    empty,
    el("div.toolbar", {}, filter),
    el("div.card", {}, table.element),
  );
  // Counting points reads every point: the polls count them one time in five.
  let polls = 0;
  ctx.every(3000, async () => {
    await load(++polls % 5 === 0);
    empty.hidden = table.rows.length > 0;
  });
}
