// A model: its details, its runs, a chart per metric name (a line per run and phase: with
// one run a colour per phase, with several a colour per run and a dash per phase), its
// modules, its iterations (a chart of any numeric attribute over the steps, the modules of
// one step), a paged table of its points, and export links.

import { API, decodePoints, get, query } from "../api.js";
import { DASHES, MetricChart, PALETTE } from "../chart.js";
import {
  attributeText, el, flatten, formatCount, formatTime, formatValue, link, notice, phaseLabel, plural,
  seriesLabel, timeCell,
} from "../dom.js";
import { ChartGrid, chartToolbar, zoomsFromUrl, zoomsToUrl } from "../grid.js";
import { lineLoader, nanCounter, refreshCharts } from "../live.js";
import { pages } from "../nav.js";
import { NO_RUN, RunBook, runKeysFromUrl, runKeysToUrl, statusBadge } from "../runs.js";
import { runsPanel } from "./model_runs.js";

const TABS = [
  ["charts", "Charts"],
  ["modules", "Modules"],
  ["iterations", "Iterations"],
  ["points", "Points"],
];
const PAGE_SIZE = 50;
/** The model page's poll (ms) while the model is active, and once it is idle: its runs have
 * all ended, or nothing was logged for IDLE_AFTER seconds. */
const ACTIVE_POLL = 1000;
const IDLE_POLL = 10_000;
const IDLE_AFTER = 300;

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
    from: /^-?\d+$/.test(ctx.query.get("from") || "") ? ctx.query.get("from") : "",
    hidden: new Set(runKeysFromUrl(ctx.list("hide"))),
    zoom: zoomsFromUrl(ctx.list("zoom")),
  };
  const save = (options) => ctx.setQuery({
    tab: state.tab === "charts" ? null : state.tab,
    q: state.q, x: state.x === "step" ? null : state.x, smooth: state.smooth, log: [...state.log],
    attr: state.attr, at: state.at, series: state.series, from: state.from,
    hide: runKeysToUrl(state.hidden), zoom: zoomsToUrl(state.zoom),
  }, options);

  // Phases keep one color (or, with several runs, one dash) on every chart of the page.
  const phases = [];
  const phaseIndex = (phase) => {
    let index = phases.indexOf(phase ?? null);
    if (index < 0) index = phases.push(phase ?? null) - 1;
    return index;
  };
  const colorOf = (phase) => PALETTE[phaseIndex(phase) % PALETTE.length];
  const seriesOf = (doc) => decodePoints(doc.latest);
  const names = (latest) => [...new Set(latest.map((one) => one.name))];
  for (const one of seriesOf(document)) colorOf(one.phase);

  // Runs: a line per run and phase; the points of no run are a run of their own ("no run").
  const book = new RunBook();
  book.update(document.runs || [], document.now);
  const runOf = (series) => series.run ?? NO_RUN;
  const keyOf = (series) => `${runOf(series)}|${series.phase ?? ""}`;
  const style = (line) => {
    if (book.size <= 1) return { label: phaseLabel(line.phase), color: colorOf(line.phase), dash: null };
    const run = book.label(runOf(line));
    return {
      label: line.phase === null || line.phase === undefined ? run : `${run} · ${line.phase}`,
      color: book.color(runOf(line)),
      dash: DASHES[phaseIndex(line.phase) % DASHES.length],
    };
  };
  const toLine = (owner, series) => ({ key: keyOf(series), ...series, ...style(series) });

  // The NaN points of each series of each run, counted by the store (null where it cannot).
  const nanCount = nanCounter(() => document);

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
        // Parquet only where the server has pyarrow
        (document.exports || ["csv"]).includes("parquet")
          ? el("a", { href: exportLink("parquet"), download: "" }, "Parquet") : null)));

  // Tabs
  const panels = {};
  const tabButtons = TABS.map(([key, label]) => el("button.tab", {
    type: "button", role: "tab", dataset: { tab: key },
    onclick: () => show(key, { push: true }),
  }, label));
  const loaded = new Set();
  // A tab clicked is a history entry of its own: Back shows the tab before.
  function show(key, options) {
    state.tab = TABS.some(([one]) => one === key) ? key : "charts";
    for (const button of tabButtons) button.setAttribute("aria-selected", String(button.dataset.tab === state.tab));
    for (const [one, panel] of Object.entries(panels)) panel.hidden = one !== state.tab;
    if (!loaded.has(state.tab)) {
      loaded.add(state.tab);
      fillers[state.tab]().catch((error) => panels[state.tab].replaceChildren(notice("error", error.message)));
    }
    save(options);
  }

  // Charts
  const chartsHost = el("div.groups");
  let runs = null;
  const toggleRun = (key) => {
    if (state.hidden.has(key)) state.hidden.delete(key);
    else state.hidden.add(key);
    save();
    runs.refresh();
    grid.restyle();
  };
  const grid = new ChartGrid(chartsHost, {
    state,
    onState: save,
    makeLoad: (name) => {
      const load = lineLoader(name, [model], toLine);
      return async (range) => {
        const lines = await load(range);
        if (book.learn(lines)) {
          runs.refresh();
          grid.restyle();
        }
        return lines;
      };
    },
    lines: {
      style,
      hidden: (line) => state.hidden.has(runOf(line)),
      onToggle: (line) => toggleRun(runOf(line)),
      nanCount: (line) => nanCount(line),
      badge: (line) => {
        const status = book.size > 1 ? book.status(runOf(line)) : null;
        return status ? statusBadge(status) : null;
      },
    },
  });
  ctx.onDispose(() => grid.destroy());
  runs = runsPanel(book, state.hidden, toggleRun);
  panels.charts = el("div.panel", {}, runs.element, chartToolbar(grid, save), chartsHost);
  const noMetrics = el("p.muted", { hidden: true }, "This model has no metrics yet: they appear here as they are logged.");
  panels.charts.append(noMetrics);

  const fillers = {
    charts: async () => {
      const latest = seriesOf(document);
      grid.setNames(names(latest), latest);
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

  // Live, in one request a second while the model is active: the step, the last point of
  // each series of each run, and the runs with their statuses. Once its runs have all ended,
  // or its last point is older than IDLE_AFTER, one request every IDLE_POLL. A chart reads
  // points only for a series whose last point changed; the points are counted again (a read
  // of every point's index entry) only when a last point changed, one poll in ten at most.
  let polls = 0;
  let counted = null;
  let idle = false;
  const signature = (live) => JSON.stringify([live.latest.ordinal, live.latest.s, live.latest.series]);
  ctx.every(() => (idle ? IDLE_POLL : ACTIVE_POLL), async () => {
    const live = await get(`/overview/models/${model.id}/live`);
    const seen = signature(live);
    if (counted === null) counted = seen;
    if (++polls % 10 === 0 && seen !== counted) {
      counted = seen;
      document = await get("/overview/model", { experiment: experimentName, hash });
      totalCell.textContent = formatCount(pointsTotal());
      grid.relegend(); // the NaN counts
    }
    stepCell.textContent = formatCount(live.step);
    const latest = decodePoints(live.latest);
    for (const one of latest) colorOf(one.phase);
    const { added, changed } = book.update(live.runs, live.now);
    const learned = book.learn(latest);
    runs.refresh();
    if (added || learned) grid.restyle();
    else if (changed) grid.relegend();
    let lastPoint = model.last_activity;
    if (latest.length) {
      lastPoint = Math.max(...latest.map((one) => one.timestamp[one.timestamp.length - 1]));
      if (lastPoint > model.last_activity) {
        model.last_activity = lastPoint;
        activity.replaceChildren(timeCell(lastPoint));
      }
    }
    const ended = live.runs.length > 0 && live.runs.every((run) => run.status !== "running");
    idle = ended || live.now - lastPoint > IDLE_AFTER;
    if (loaded.has("charts")) {
      grid.setNames(names(latest), latest);
      noMetrics.hidden = latest.length > 0;
      await refreshCharts(grid, latest, keyOf, async (name, start, budget) => {
        const doc = await get(`/models/${model.id}/metrics`, { name, start_step: start, budget });
        return decodePoints(doc).map((series) => toLine(model, series));
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
  const first = el("button.ghost", { type: "button", title: "The first page" }, "« First");
  const previous = el("button.ghost", { type: "button" }, "‹ Previous");
  const next = el("button.ghost", { type: "button" }, "Next ›");
  const stepBox = el("input.step-jump", {
    type: "number", step: "1", placeholder: "step", "aria-label": "Go to step",
    value: state.from === "" ? "" : state.from,
  });
  const jump = el("form.control", {}, el("span.control-label", {}, "Go to step"), stepBox,
    el("button.ghost", { type: "submit" }, "Go"));
  const body = el("tbody");
  const table = el("table.data.points", {},
    el("thead", {}, el("tr", {}, el("th.num", {}, "#"), el("th.num", {}, "Step"), el("th.num", {}, "Value"), el("th", {}, "Time"))),
    body);
  // The pages walked from the start (or from the step jumped to), a cursor each: the
  // store's `after` (the ordinal of the previous page's last point), read forward only.
  let cursors = [null];
  const load = async () => {
    const chosen = series[labels.indexOf(state.series)];
    const after = cursors[cursors.length - 1];
    const params = { name: chosen.name, limit: PAGE_SIZE, after, start_step: state.from === "" ? null : state.from };
    if (chosen.phase === null) params.no_phase = true;
    else params.phase = chosen.phase;
    const answer = await get(`/overview/models/${model.id}/points`, params);
    const [points] = decodePoints(answer.points);
    const rows = [];
    const jumped = state.from !== "";
    const before = (cursors.length - 1) * PAGE_SIZE;
    const count = points ? points.value.length : 0;
    for (let i = 0; i < count; i++) {
      const value = points.value[i];
      rows.push(el("tr", {},
        el("td.num.muted", {}, jumped ? "" : formatCount(before + i + 1)),
        el("td.num", {}, points.step[i] === null ? "—" : formatCount(points.step[i])),
        el("td.num", {}, typeof value === "number" && !Number.isFinite(value)
          ? el("span.special", {}, formatValue(value)) : formatValue(value)),
        el("td", {}, formatTime(points.timestamp[i]))));
    }
    body.replaceChildren(...rows);
    const total = answer.total === null ? "?" : formatCount(answer.total);
    const page = `page ${cursors.length}`;
    if (!count) position.textContent = jumped ? `no point at step ${formatCount(Number(state.from))} or later · ${total} points` : `0 of ${total}`;
    else if (jumped) {
      const steps = points.step.filter((one) => one !== null);
      const range = steps.length ? `steps ${formatCount(Math.min(...steps))}–${formatCount(Math.max(...steps))}` : "";
      position.textContent = `${range} of ${total} points · ${page} from step ${formatCount(Number(state.from))}`;
    } else position.textContent = `${formatCount(before + 1)}–${formatCount(before + count)} of ${total} · ${page}`;
    first.disabled = cursors.length <= 1 && !jumped;
    previous.disabled = cursors.length <= 1;
    next.disabled = answer.next === null;
    next.onclick = () => {
      cursors.push(answer.next);
      load();
    };
    save();
  };
  const restart = () => {
    cursors = [null];
    load();
  };
  picker.addEventListener("change", () => {
    state.series = picker.value;
    restart();
  });
  jump.addEventListener("submit", (event) => {
    event.preventDefault();
    const step = stepBox.value.trim();
    state.from = /^-?\d+$/.test(step) ? step : "";
    restart();
  });
  first.addEventListener("click", () => {
    state.from = "";
    stepBox.value = "";
    restart();
  });
  previous.addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    load();
  });
  panel.replaceChildren(
    el("div.toolbar", {}, el("label.control", {}, el("span.control-label", {}, "Series"), picker), jump,
      el("span.spacer"), position, first, previous, next),
    el("div.card.points-card", {}, table));
  await load();
}
