// A model: its details, a chart per metric name (each phase a line), its modules, its
// iterations (a chart of any numeric attribute over the steps, the modules of one step), a
// paged table of its points, and export links.

import { API, decodePoints, get, query } from "../api.js";
import { MetricChart, PALETTE } from "../chart.js";
import {
  el, formatCount, formatTime, formatValue, link, notice, phaseLabel, plural, seriesLabel, timeCell,
} from "../dom.js";
import { ChartGrid, chartToolbar } from "../grid.js";
import { lineLoader, refreshCharts } from "../live.js";
import { pages } from "../nav.js";

const TABS = [
  ["charts", "Charts"],
  ["modules", "Modules"],
  ["iterations", "Iterations"],
  ["points", "Points"],
];
const PAGE_SIZE = 50;

/** Attributes flattened to paths: {"a": {"b": 1}} -> [["a.b", 1]]. */
export function flatten(value, prefix = "", out = []) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (!keys.length && prefix) out.push([prefix, value]);
    for (const key of keys) flatten(value[key], prefix ? `${prefix}.${key}` : key, out);
  } else {
    out.push([prefix, value]);
  }
  return out;
}

export function attributeText(value) {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return formatValue(value);
  return JSON.stringify(value);
}

export function attributesList(attributes) {
  const entries = flatten(attributes);
  if (!entries.length) return el("span.muted", {}, "no attributes");
  return el("dl.attributes", {}, entries.map(([key, value]) => [
    el("dt", {}, key), el("dd", {}, attributeText(value)),
  ]));
}

export async function modelPage(ctx) {
  const [experimentName, hash] = ctx.params;
  let document = await get("/overview/model", { experiment: experimentName, hash });
  const model = document.model;
  const title = model.name ? `${model.name}` : hash;
  ctx.crumbs(
    link(pages.experiments(), "Experiments"),
    link(pages.experiment(experimentName), experimentName),
    el("span.crumb", {}, title));

  const state = {
    tab: ctx.query.get("tab") || "charts",
    q: ctx.query.get("q") || "",
    x: ctx.query.get("x") === "time" ? "time" : "step",
    smooth: ctx.query.get("smooth") || "",
    log: new Set(ctx.list("log")),
    attr: ctx.query.get("attr") || "",
    at: ctx.query.get("at") || "",
    series: ctx.query.get("series") || "",
    page: Number(ctx.query.get("page")) || 1,
  };
  const save = () => ctx.setQuery({
    tab: state.tab === "charts" ? null : state.tab,
    q: state.q, x: state.x === "step" ? null : state.x, smooth: state.smooth, log: [...state.log],
    attr: state.attr, at: state.at, series: state.series, page: state.page > 1 ? state.page : null,
  });

  // Phases keep one color on every chart of the page.
  const phases = [];
  const colorOf = (phase) => {
    let index = phases.indexOf(phase ?? null);
    if (index < 0) index = phases.push(phase ?? null) - 1;
    return PALETTE[index % PALETTE.length];
  };
  const seriesOf = (doc) => decodePoints(doc.latest);
  const names = (latest) => [...new Set(latest.map((one) => one.name))];
  for (const one of seriesOf(document)) colorOf(one.phase);

  // Header
  const stepCell = el("b", {}, formatCount(model.step));
  const activity = el("span", {}, timeCell(model.last_activity));
  const pointsTotal = () => {
    const counts = document.series.map((one) => one.points);
    return counts.some((count) => count === null) ? null : counts.reduce((a, b) => a + b, 0);
  };
  const totalCell = el("b", {}, formatCount(pointsTotal()));
  const exportLink = (format) => `${API}/overview/export${query({ experiment: experimentName, hash, format })}`;
  const header = el("div.page-head.model-head", {},
    el("div", {},
      el("h1", {}, title, model.name ? el("span.hash", {}, hash) : null),
      model.description ? el("p.description", {}, model.description) : null),
    el("div.facts", {},
      el("span", {}, "step ", stepCell),
      el("span", {}, "points ", totalCell),
      el("span", {}, "created ", timeCell(model.created_at)),
      el("span", {}, "last activity ", activity),
      el("span.exports", {}, "export ",
        el("a", { href: exportLink("csv"), download: "" }, "CSV"),
        el("a", { href: exportLink("parquet"), download: "" }, "Parquet"))));

  // Tabs
  const panels = {};
  const tabButtons = TABS.map(([key, label]) => el("button.tab", {
    type: "button", role: "tab", dataset: { tab: key },
    onclick: () => show(key),
  }, label));
  const loaded = new Set();
  function show(key) {
    state.tab = TABS.some(([one]) => one === key) ? key : "charts";
    for (const button of tabButtons) button.setAttribute("aria-selected", String(button.dataset.tab === state.tab));
    for (const [one, panel] of Object.entries(panels)) panel.hidden = one !== state.tab;
    if (!loaded.has(state.tab)) {
      loaded.add(state.tab);
      fillers[state.tab]().catch((error) => panels[state.tab].replaceChildren(notice("error", error.message)));
    }
    save();
  }

  // Charts
  const chartsHost = el("div.groups");
  const grid = new ChartGrid(chartsHost, {
    state,
    onState: save,
    makeLoad: (name) => lineLoader(name, [model], (owner, series) => ({
      key: series.phase ?? "",
      label: phaseLabel(series.phase),
      color: colorOf(series.phase),
      ...series,
    })),
  });
  ctx.onDispose(() => grid.destroy());
  panels.charts = el("div.panel", {}, chartToolbar(grid, save), chartsHost);
  const noMetrics = el("p.muted", { hidden: true }, "This model has no metrics yet: they appear here as they are logged.");
  panels.charts.append(noMetrics);

  const fillers = {
    charts: async () => {
      const latest = seriesOf(document);
      grid.setNames(names(latest));
      noMetrics.hidden = latest.length > 0;
    },
    modules: async () => fillModules(panels.modules, model),
    iterations: async () => fillIterations(panels.iterations, model, state, save),
    points: async () => fillPoints(panels.points, model, document, state, save),
  };
  for (const [key] of TABS) if (!panels[key]) panels[key] = el("div.panel", { hidden: true });

  ctx.main.replaceChildren(
    header,
    el("div.tabs", { role: "tablist" }, tabButtons),
    ...TABS.map(([key]) => panels[key]),
  );
  show(state.tab);

  // Live: the last point of each series and the step; the points counted one time in ten
  // (counting reads every point).
  let polls = 0;
  ctx.every(1000, async () => {
    if (++polls % 10 === 0) {
      document = await get("/overview/model", { experiment: experimentName, hash });
      totalCell.textContent = formatCount(pointsTotal());
    }
    const [latestDoc, step] = await Promise.all([
      get(`/models/${model.id}/metrics/latest`),
      get(`/models/${model.id}/step`),
    ]);
    stepCell.textContent = formatCount(step.step);
    const latest = decodePoints(latestDoc);
    for (const one of latest) colorOf(one.phase);
    if (latest.length) {
      const last = Math.max(...latest.map((one) => one.timestamp[one.timestamp.length - 1]));
      if (last > model.last_activity) {
        model.last_activity = last;
        activity.replaceChildren(timeCell(last));
      }
    }
    if (loaded.has("charts")) {
      grid.setNames(names(latest));
      noMetrics.hidden = latest.length > 0;
      await refreshCharts(grid, latest, (series) => series.phase ?? "", async (name, start, budget) => {
        const doc = await get(`/models/${model.id}/metrics`, { name, start_step: start, budget });
        return decodePoints(doc).map((series) => ({
          key: series.phase ?? "", label: phaseLabel(series.phase), color: colorOf(series.phase), ...series,
        }));
      });
    }
  });
}

async function fillModules(panel, model) {
  const modules = await get(`/overview/models/${model.id}/modules`);
  if (!modules.length) {
    panel.replaceChildren(el("p.muted", {}, "No modules logged for this model."));
    return;
  }
  panel.replaceChildren(el("div.card", {}, el("table.data.modules", {},
    el("thead", {}, el("tr", {}, el("th", {}, "Module"), el("th", {}, "Attributes"), el("th", {}, "Logged"))),
    el("tbody", {}, modules.map((module) => el("tr", {},
      el("td.name", {}, module.name),
      el("td", {}, attributesList(module.attributes)),
      el("td", {}, module.created_at ? timeCell(module.created_at) : "")))))));
}

async function fillIterations(panel, model, state, save) {
  const iterations = await get(`/overview/models/${model.id}/iterations`);
  if (!iterations.length) {
    panel.replaceChildren(el("p.muted", {}, "No iterations logged for this model."));
    return;
  }
  // Every numeric attribute path of the iterations' modules, with its values by step.
  const paths = new Map();
  for (const iteration of iterations) {
    for (const module of iteration.modules) {
      for (const [key, value] of flatten(module.attributes)) {
        const number = typeof value === "number" ? value
          : value === "NaN" ? NaN : value === "Infinity" ? Infinity : value === "-Infinity" ? -Infinity : null;
        if (number === null) continue;
        const path = `${module.name}.${key}`;
        if (!paths.has(path)) paths.set(path, { step: [], value: [], timestamp: [], ordinal: [] });
        const line = paths.get(path);
        line.step.push(iteration.step);
        line.value.push(number);
        line.timestamp.push(iteration.created_at ?? 0);
        line.ordinal.push(line.ordinal.length);
      }
    }
  }
  const names = [...paths.keys()];
  if (!paths.has(state.attr)) state.attr = names.find((name) => /(^|\.)lr$|learning_rate/.test(name)) || names[0] || "";

  const chartHost = el("section.chart-slot.wide");
  let chart = null;
  const drawAttribute = () => {
    if (chart) chart.destroy();
    chart = null;
    if (!state.attr) {
      chartHost.replaceChildren(el("p.muted", {}, "No numeric attribute in the iterations' modules."));
      return;
    }
    const line = paths.get(state.attr);
    chartHost.dataset.metric = state.attr;
    chart = new MetricChart(chartHost, {
      title: state.attr,
      load: async () => [{ key: state.attr, label: state.attr, color: PALETTE[0], ...line }],
      xMode: "step",
    });
    chart.load();
  };
  const picker = el("select", {
    "aria-label": "Attribute to chart",
    onchange: () => {
      state.attr = picker.value;
      save();
      drawAttribute();
    },
  }, names.map((name) => el("option", { value: name, selected: name === state.attr }, name)));

  const detail = el("div.card.iteration-detail");
  const rows = new Map();
  const pick = (iteration) => {
    state.at = String(iteration.step);
    save();
    for (const [step, row] of rows) row.classList.toggle("selected", String(step) === state.at);
    detail.replaceChildren(
      el("h3", {}, `Step ${formatCount(iteration.step)}`,
        el("span.muted", {}, iteration.created_at ? ` · ${formatTime(iteration.created_at)}` : "")),
      iteration.modules.length
        ? el("table.data.modules", {}, el("tbody", {}, iteration.modules.map((module) => el("tr", {},
          el("td.name", {}, module.name), el("td", {}, attributesList(module.attributes))))))
        : el("p.muted", {}, "No modules at this step."));
  };
  const list = el("table.data.iterations", {},
    el("thead", {}, el("tr", {}, el("th.num", {}, "Step"), el("th", {}, "Modules"), el("th", {}, "Logged"))),
    el("tbody", {}, iterations.map((iteration) => {
      const row = el("tr.clickable", { tabIndex: 0, onclick: () => pick(iteration),
        onkeydown: (event) => { if (event.key === "Enter") pick(iteration); } },
        el("td.num", {}, formatCount(iteration.step)),
        el("td", {}, iteration.modules.map((module) => module.name).join(", ") || el("span.muted", {}, "—")),
        el("td", {}, iteration.created_at ? timeCell(iteration.created_at) : ""));
      rows.set(iteration.step, row);
      return row;
    })));

  panel.replaceChildren(
    el("div.toolbar", {}, el("label.control", {}, el("span.control-label", {}, "Attribute over the steps"), picker),
      el("span.muted", {}, plural(iterations.length, "iteration"))),
    chartHost,
    el("div.split", {}, el("div.card.scroll", {}, list), detail));
  drawAttribute();
  const chosen = iterations.find((iteration) => String(iteration.step) === state.at) || iterations[iterations.length - 1];
  pick(chosen);
  const row = rows.get(chosen.step);
  const box = row.closest(".scroll");
  box.scrollTop = Math.max(0, row.offsetTop - box.clientHeight / 2);
}

async function fillPoints(panel, model, document, state, save) {
  const series = document.series;
  if (!series.length) {
    panel.replaceChildren(el("p.muted", {}, "No metrics logged for this model."));
    return;
  }
  const labels = series.map((one) => seriesLabel(one.name, one.phase));
  if (!labels.includes(state.series)) state.series = labels[0];
  const picker = el("select", { "aria-label": "Series" },
    labels.map((label) => el("option", { value: label, selected: label === state.series }, label)));
  const position = el("span.muted.pager-position");
  const previous = el("button.ghost", { type: "button" }, "‹ Previous");
  const next = el("button.ghost", { type: "button" }, "Next ›");
  const body = el("tbody");
  const table = el("table.data.points", {},
    el("thead", {}, el("tr", {}, el("th.num", {}, "#"), el("th.num", {}, "Step"), el("th.num", {}, "Value"), el("th", {}, "Time"))),
    body);
  let total = 0;
  const load = async () => {
    const chosen = series[labels.indexOf(state.series)];
    const params = { name: chosen.name, offset: (state.page - 1) * PAGE_SIZE, limit: PAGE_SIZE };
    if (chosen.phase === null) params.no_phase = true;
    else params.phase = chosen.phase;
    const answer = await get(`/overview/models/${model.id}/points`, params);
    total = answer.total;
    const pagesCount = Math.max(1, Math.ceil(total / PAGE_SIZE));
    if (state.page > pagesCount) {
      state.page = pagesCount;
      return load();
    }
    const [points] = decodePoints(answer.points);
    const rows = [];
    if (points) {
      for (let i = 0; i < points.value.length; i++) {
        const value = points.value[i];
        rows.push(el("tr", {},
          el("td.num.muted", {}, formatCount(answer.offset + i + 1)),
          el("td.num", {}, points.step[i] === null ? "—" : formatCount(points.step[i])),
          el("td.num", {}, typeof value === "number" && !Number.isFinite(value)
            ? el("span.special", {}, formatValue(value)) : formatValue(value)),
          el("td", {}, formatTime(points.timestamp[i]))));
      }
    }
    body.replaceChildren(...rows);
    const first = total ? answer.offset + 1 : 0;
    position.textContent = `${formatCount(first)}–${formatCount(answer.offset + rows.length)} of ${formatCount(total)} · page ${state.page} of ${formatCount(pagesCount)}`;
    previous.disabled = state.page <= 1;
    next.disabled = state.page >= pagesCount;
    save();
  };
  picker.addEventListener("change", () => {
    state.series = picker.value;
    state.page = 1;
    load();
  });
  previous.addEventListener("click", () => {
    state.page = Math.max(1, state.page - 1);
    load();
  });
  next.addEventListener("click", () => {
    state.page += 1;
    load();
  });
  panel.replaceChildren(
    el("div.toolbar", {}, el("label.control", {}, el("span.control-label", {}, "Series"), picker),
      el("span.spacer"), position, previous, next),
    el("div.card.points-card", {}, table));
  await load();
}
