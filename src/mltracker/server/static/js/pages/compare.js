// Models compared: one chart per metric name with a line per model, run and phase (a color
// per model, lighter for its older runs; a dash per phase), and the module attributes that
// differ between them.

import { decodePoints, get } from "../api.js";
import { DASHES, PALETTE } from "../chart.js";
import { attributeText, el, flatten, link, notice, phaseLabel, plural } from "../dom.js";
import { ChartGrid, chartToolbar, zoomsFromUrl, zoomsToUrl } from "../grid.js";
import { lineLoader, nanCounter, refreshCharts } from "../live.js";
import { navigate, pages } from "../nav.js";
import { NO_RUN, RunBook } from "../runs.js";

/** A colour mixed with white (0: itself, 1: white), as #rrggbb. */
function lighter(hex, amount) {
  const n = parseInt(hex.slice(1), 16);
  const mix = (channel) => Math.round(channel + (255 - channel) * amount);
  const rgb = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map(mix);
  return `#${rgb.map((channel) => channel.toString(16).padStart(2, "0")).join("")}`;
}

export async function comparePage(ctx) {
  const [experimentName] = ctx.params;
  const hashes = [...new Set(ctx.list("models"))];
  ctx.crumbs(
    link(pages.experiments(), "Experiments"),
    link(pages.experiment(experimentName), experimentName),
    el("span.crumb", {}, "Compare"));
  if (!hashes.length) {
    ctx.main.replaceChildren(notice("info", "No models to compare: pick them on ",
      link(pages.experiment(experimentName), "the experiment's page"), "."));
    return;
  }
  const state = {
    q: ctx.query.get("q") || "",
    x: ctx.query.get("x") === "time" ? "time" : "step",
    smooth: ctx.query.get("smooth") || "",
    log: new Set(ctx.list("log")),
    all: ctx.query.get("all") === "1",
    zoom: zoomsFromUrl(ctx.list("zoom")),
  };
  const save = () => ctx.setQuery({
    models: hashes, q: state.q, x: state.x === "step" ? null : state.x, smooth: state.smooth,
    log: [...state.log], all: state.all ? "1" : null, zoom: zoomsToUrl(state.zoom),
  });

  const documents = await Promise.all(hashes.map((hash) =>
    get("/overview/model", { experiment: experimentName, hash })));
  const models = documents.map((document, index) => ({
    ...document.model,
    label: document.model.name ? `${document.model.name}` : document.model.hash,
    color: PALETTE[index % PALETTE.length],
    book: new RunBook(),
  }));
  documents.forEach((document, index) => models[index].book.update(document.runs || [], document.now));
  // Model labels must tell the models apart: where names repeat, add the hash.
  const seen = new Map();
  for (const model of models) seen.set(model.label, (seen.get(model.label) || 0) + 1);
  for (const model of models) if (seen.get(model.label) > 1) model.label = `${model.label} (${model.hash.slice(0, 8)})`;
  const byId = new Map(models.map((model) => [model.id, model]));
  const documentById = new Map(documents.map((document) => [document.model.id, document]));

  const phases = [];
  const dashOf = (phase) => {
    let index = phases.indexOf(phase ?? null);
    if (index < 0) index = phases.push(phase ?? null) - 1;
    return DASHES[index % DASHES.length];
  };
  const keyOf = (series) => `${series.model}|${series.run ?? NO_RUN}|${series.phase ?? ""}`;
  // A model of several runs: a line per run, labelled with it, the older ones lighter.
  const style = (line) => {
    const model = byId.get(line.model);
    const book = model.book;
    const run = line.run ?? NO_RUN;
    if (book.size <= 1) {
      return { label: `${model.label} · ${phaseLabel(line.phase)}`, color: model.color, dash: dashOf(line.phase) };
    }
    const age = book.order.length - 1 - Math.max(0, book.order.indexOf(run));
    return {
      label: `${model.label} · ${book.label(run)} · ${phaseLabel(line.phase)}`,
      color: lighter(model.color, Math.min(0.7, 0.22 * age)),
      dash: dashOf(line.phase),
    };
  };
  const toLine = (model, series) => ({ key: keyOf(series), ...series, ...style(series) });

  const namesOf = new Map();
  const allNames = [];
  const learn = (latest) => {
    let added = false;
    for (const series of latest) {
      dashOf(series.phase);
      const model = byId.get(series.model);
      if (model && model.book.learn([series])) added = true;
      if (!namesOf.has(series.name)) {
        namesOf.set(series.name, new Set());
        allNames.push(series.name);
      }
      namesOf.get(series.name).add(series.model);
    }
    return added;
  };
  const first = documents.flatMap((document) => decodePoints(document.latest));
  learn(first);

  const grid = new ChartGrid(el("div.groups"), {
    state,
    onState: save,
    lines: { style, nanCount: nanCounter((line) => documentById.get(line.model)) },
    makeLoad: (name) => async (range) => {
      const owners = models.filter((model) => namesOf.get(name)?.has(model.id));
      const lines = await lineLoader(name, owners, toLine)(range);
      if (learn(lines)) grid.restyle();
      return lines;
    },
  });
  ctx.onDispose(() => grid.destroy());
  grid.setNames(allNames, first);

  const chips = el("div.chips", {}, models.map((model) => el("span.chip.model-chip", {},
    el("i.swatch", { style: `background:${model.color}` }),
    link(pages.model(experimentName, model.hash), model.label),
    el("button.remove", {
      type: "button",
      title: `Leave ${model.label} out`,
      "aria-label": `Leave ${model.label} out`,
      onclick: () => {
        const rest = hashes.filter((hash) => hash !== model.hash);
        if (!rest.length) {
          navigate(pages.experiment(experimentName));
          return;
        }
        // the page's other state (log, smoothing, x axis, filter, zoom) stays
        const others = location.search.slice(1).split("&").filter((part) => part && !part.startsWith("models="));
        navigate(pages.compare(experimentName, rest) + others.map((part) => `&${part}`).join(""));
      },
    }, "×"))));
  const phaseKey = el("span.muted.phase-key");
  const describePhases = () => {
    phaseKey.replaceChildren(...phases.map((phase) => {
      const dash = dashOf(phase);
      const sample = el("span.dash-sample");
      sample.innerHTML = `<svg width="28" height="8" aria-hidden="true"><line x1="0" y1="4" x2="28" y2="4" stroke="#5b6475" stroke-width="2"${dash ? ` stroke-dasharray="${dash.join(" ")}"` : ""}/></svg>`;
      return el("span.phase-item", {}, sample, phaseLabel(phase));
    }));
  };
  describePhases();

  const differences = el("div.card.differences");
  ctx.main.replaceChildren(
    el("div.page-head", {}, el("h1", {}, `Comparing ${plural(models.length, "model")}`), el("p.muted.page-sub", {}, experimentName)),
    el("div.toolbar", {}, chips, el("span.spacer"), phaseKey),
    differences,
    chartToolbar(grid, save),
    grid.host,
  );
  save();

  const modules = await Promise.all(models.map((model) => get(`/overview/models/${model.id}/modules`)));
  drawDifferences(differences, models, modules, state, save);

  ctx.every(1500, async () => {
    const answer = await get("/overview/latest", { model: models.map((model) => model.id), by_run: true });
    const latest = Object.values(answer).flatMap((one) => decodePoints(one.latest));
    const before = phases.length;
    if (learn(latest)) grid.restyle();
    if (phases.length !== before) describePhases();
    grid.setNames(allNames, latest);
    await refreshCharts(grid, latest, keyOf, async (name, start, budget) => {
      const owners = models.filter((model) => namesOf.get(name)?.has(model.id));
      const lines = await lineLoader(name, owners, toLine)({ start, budget });
      return lines.filter((line) => byId.has(line.model));
    });
  });
}

function drawDifferences(host, models, modules, state, save) {
  // attribute path -> value text per model (undefined where a model lacks it)
  const rows = new Map();
  models.forEach((model, index) => {
    for (const module of modules[index]) {
      const entries = flatten(module.attributes);
      if (!entries.length) entries.push(["", null]);
      for (const [key, value] of entries) {
        const path = key ? `${module.name}.${key}` : module.name;
        if (!rows.has(path)) rows.set(path, new Array(models.length).fill(undefined));
        rows.get(path)[index] = key ? attributeText(value) : "(module)";
      }
    }
  });
  const differing = [...rows].filter(([, texts]) => new Set(texts.map((text) => text ?? "\u0000")).size > 1);
  const shown = state.all ? [...rows] : differing;
  const toggle = el("label.control", {},
    el("input", {
      type: "checkbox",
      checked: state.all,
      onchange: (event) => {
        state.all = event.target.checked;
        save();
        drawDifferences(host, models, modules, state, save);
      },
    }),
    "show every attribute");
  const title = differing.length
    ? `Module attributes that differ (${differing.length} of ${rows.size})`
    : rows.size ? `No module attribute differs (${rows.size} compared)` : "No modules logged for these models";
  const table = shown.length
    ? el("div.table-wrap", {}, el("table.data.diff", {},
      el("thead", {}, el("tr", {}, el("th", {}, "Attribute"), models.map((model) =>
        el("th.model", {}, el("i.swatch", { style: `background:${model.color}` }), model.label)))),
      el("tbody", {}, shown.map(([path, texts]) => el("tr", {
        className: differing.some(([one]) => one === path) ? "differs" : "",
      }, el("td.name.mono", {}, path), texts.map((text) =>
        el("td.mono", {}, text === undefined ? el("span.muted", {}, "—") : text)))))))
    : null;
  host.replaceChildren(el("div.card-head", {}, el("h2", {}, title), rows.size ? toggle : null), ...(table ? [table] : []));
}
