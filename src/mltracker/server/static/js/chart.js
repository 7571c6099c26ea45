// A metric chart: uPlot with the lines of one metric name (each phase, or each model and phase).
//
// - Long series come from the server already cut to a point budget (about twice the plot's
//   width, min and max of each bucket kept); where a line still has more points than the
//   plot has pixels, it is drawn as the band between each pixel column's min and max with
//   its mean as the line, so spikes stay visible.
// - NaN and infinities are markers on the plot's edges (▲ +inf, ▼ −inf, ✕ NaN): the line
//   goes on past them and they never stretch the y axis.
// - Dragging zooms; the range is read again from the server, at full resolution where it is
//   small enough. A double click goes back to the whole series.
// - Options: x by step or wall time, log y, EMA smoothing (the raw line faint behind).
// - A page may style the lines when they are drawn (a colour per run once a model has
//   several), hide some (their legend entries stay, struck out: a click shows them again),
//   and add a badge to a line's legend entry (its run's status).

import { numeric } from "./api.js";
import { el, formatCount, formatTime, formatValue } from "./dom.js";

const HEIGHT = 230;
/** The height of an enlarged chart (the page's width). */
const ENLARGED_HEIGHT = 460;
const AXIS_WIDTH = 64;

export const PALETTE = [
  "#3461c1", "#e8743b", "#19a979", "#d6336c", "#8a55c9",
  "#c9a227", "#1aa3c8", "#7a5c3e", "#5b6475", "#9bb82c",
];

/** Dashes by phase: the first phase solid, then dashed, dotted, ... */
export const DASHES = [null, [7, 4], [2, 3], [10, 3, 2, 3]];

function rgba(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

/** Exponential moving average, debiased, over the finite values (others stay null). */
export function ema(values, weight) {
  const out = new Array(values.length);
  let last = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const y = values[i];
    if (y === null || !Number.isFinite(y)) {
      out[i] = null;
      continue;
    }
    count++;
    last = last * weight + (1 - weight) * y;
    out[i] = last / (1 - weight ** count);
  }
  return out;
}

function lowerBound(sorted, x) {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (sorted[middle] < x) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** A line's points as the chart draws them: sorted by x, with its special values apart. */
function prepare(line, useTime, log) {
  const points = [];
  const xs = useTime ? line.timestamp : line.step;
  for (let i = 0; i < line.value.length; i++) {
    const value = numeric(line.value[i]);
    const x = xs[i];
    if (value === null || x === null || x === undefined) continue;
    points.push([x, value]);
  }
  let sorted = true;
  for (let i = 1; i < points.length && sorted; i++) sorted = points[i - 1][0] <= points[i][0];
  if (!sorted) points.sort((a, b) => a[0] - b[0]);
  const x = new Array(points.length);
  const raw = new Array(points.length);
  const y = new Array(points.length);
  const specials = [];
  for (let i = 0; i < points.length; i++) {
    const [px, value] = points[i];
    x[i] = px;
    raw[i] = value;
    if (!Number.isFinite(value)) {
      y[i] = null;
      specials.push([px, Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf"]);
    } else {
      y[i] = log && value <= 0 ? null : value;
    }
  }
  return { x, raw, y, specials };
}

/** Min, max and mean of the finite values in each of `count` columns of the x range. */
function columns(x, y, count) {
  const first = x[0];
  const span = x[x.length - 1] - first || 1;
  const bx = [];
  const lo = [];
  const hi = [];
  const mid = [];
  let column = -1;
  let sum = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    const c = Math.min(count - 1, Math.floor(((x[i] - first) / span) * count));
    if (c !== column) {
      if (n) mid[mid.length - 1] = sum / n;
      column = c;
      bx.push(x[i]);
      lo.push(null);
      hi.push(null);
      mid.push(null);
      sum = 0;
      n = 0;
    }
    const value = y[i];
    if (value === null) continue;
    const last = lo.length - 1;
    if (lo[last] === null || value < lo[last]) lo[last] = value;
    if (hi[last] === null || value > hi[last]) hi[last] = value;
    sum += value;
    n++;
  }
  if (n) mid[mid.length - 1] = sum / n;
  return { x: bx, lo, hi, mid };
}

function drawMarker(ctx, kind, x, y, size) {
  ctx.beginPath();
  if (kind === "inf") {
    ctx.moveTo(x, y - size);
    ctx.lineTo(x + size, y + size);
    ctx.lineTo(x - size, y + size);
    ctx.closePath();
    ctx.fill();
  } else if (kind === "-inf") {
    ctx.moveTo(x, y + size);
    ctx.lineTo(x + size, y - size);
    ctx.lineTo(x - size, y - size);
    ctx.closePath();
    ctx.fill();
  } else {
    ctx.moveTo(x - size, y - size);
    ctx.lineTo(x + size, y + size);
    ctx.moveTo(x + size, y - size);
    ctx.lineTo(x - size, y + size);
    ctx.stroke();
  }
}

export class MetricChart {
  /**
   * host: the element to draw in. options: {title, load({start, stop, budget}) -> lines,
   * xMode: "step" | "time", log, smoothing, zoom: {min, max} (the window shown first, or
   * null), onZoom(zoom | null), onLog(bool), style(line) -> {label, color, dash}
   * (applied at each drawing), hidden(line) -> bool, onToggle(line) (a click on its legend
   * entry), badge(line) -> an element for its legend entry, nanCount(line) -> the NaN points
   * of the line's whole series, or null where unknown}. A line: {key, label, color,
   * dash, step[], value[], timestamp[], ordinal[]}.
   */
  constructor(host, options) {
    this.host = host;
    this.options = options;
    this.xMode = options.xMode || "step";
    this.log = Boolean(options.log);
    this.smoothing = options.smoothing || 0;
    this.lines = [];
    this.zoom = options.zoom || null;
    this.appended = 0;
    this.loads = 0;
    this.plot = null;
    this.shown = [];
    this.generation = 0;
    host.mlChart = this;
    host.classList.add("chart");

    this.logButton = el("button.chip", {
      type: "button",
      title: "Logarithmic y axis",
      "aria-pressed": String(this.log),
      onclick: () => this.setLog(!this.log),
    }, "log");
    this.resetButton = el("button.chip", {
      type: "button",
      hidden: !this.zoom,
      title: "Show the whole series (or double-click the chart)",
      onclick: () => this.resetZoom(),
    }, "reset zoom");
    this.enlarged = false;
    this.enlargeButton = el("button.chip.enlarge", {
      type: "button",
      title: "Enlarge to the page's width",
      "aria-label": "Enlarge",
      "aria-pressed": "false",
      onclick: () => this.setEnlarged(!this.enlarged),
    }, "⤢");
    this.note = el("span.chart-note");
    this.header = el("div.chart-head", {},
      el("h3.chart-title", { title: options.title }, options.title),
      this.note, this.resetButton, this.logButton, this.enlargeButton);
    this.canvas = el("div.chart-plot");
    this.legend = el("div.chart-legend");
    host.replaceChildren(this.header, this.canvas, this.legend);
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(host);
  }

  get plotWidth() {
    return Math.max(120, (this.host.clientWidth || 480) - AXIS_WIDTH - 24);
  }

  get budget() {
    return Math.max(200, Math.round(this.plotWidth * 2));
  }

  /** Read the lines (of the zoomed range, if any) from the server and draw them. */
  async load() {
    const generation = ++this.generation;
    const range = this.zoom ? this.stepRange(this.zoom) : {};
    if (range === null) return;
    this.host.classList.add("loading");
    try {
      const lines = await this.options.load({ ...range, budget: this.budget });
      if (generation !== this.generation) return;
      this.loads++;
      const first = !this.lines.length;
      this.lines = lines;
      this.zoomed = Boolean(this.zoom);
      if (this.zoom && first && range.start === undefined && lines.length) {
        // a window of wall time (from the URL) needs the points to find its steps
        this.load();
        return;
      }
      this.appended = 0;
      this.render();
    } catch (error) {
      if (generation === this.generation) this.fail(error);
    } finally {
      if (generation === this.generation) this.host.classList.remove("loading");
    }
  }

  fail(error) {
    this.destroyPlot();
    this.canvas.replaceChildren(el("p.chart-empty.error", {}, `Could not read: ${error.message}`));
  }

  /** The step range [start, stop) of an x range (on a time axis, of the points inside). */
  stepRange(zoom) {
    const useTime = this.usesTime ?? this.xMode === "time"; // before the first drawing: as asked
    if (!useTime) return { start: Math.floor(zoom.min), stop: Math.floor(zoom.max) + 1 };
    const found = this.extent(zoom, true, false);
    return found === null ? {} : { start: found.min, stop: found.max + 1 };
  }

  /** The lowest and highest x on the axis `toTime` of the points whose x on the axis
   * `fromTime` is in the window `zoom` (or, where none is, of the points on either side of
   * it: a window in a gap of the series); null when the lines have none. */
  extent(zoom, fromTime, toTime) {
    let min = null;
    let max = null;
    const take = (value) => {
      if (min === null || value < min) min = value;
      if (max === null || value > max) max = value;
    };
    const before = { from: -Infinity, to: null };
    const after = { from: Infinity, to: null };
    for (const line of this.lines) {
      const from = fromTime ? line.timestamp : line.step;
      const to = toTime ? line.timestamp : line.step;
      for (let i = 0; i < from.length; i++) {
        const x = from[i];
        if (x === null || to[i] === null) continue;
        if (x >= zoom.min && x <= zoom.max) take(to[i]);
        else if (x < zoom.min && x > before.from) Object.assign(before, { from: x, to: to[i] });
        else if (x > zoom.max && x < after.from) Object.assign(after, { from: x, to: to[i] });
      }
    }
    if (min === null) {
      if (before.to !== null) take(before.to);
      if (after.to !== null) take(after.to);
    }
    return min === null ? null : { min, max };
  }

  /** Add points logged since the last read (those of a line newer than its last ordinal). */
  merge(updates) {
    let added = 0;
    for (const update of updates) {
      const line = this.lines.find((one) => one.key === update.key);
      if (!line) {
        this.lines.push({ ...update });
        added += update.value.length;
        continue;
      }
      const last = line.ordinal.length ? line.ordinal[line.ordinal.length - 1] : -Infinity;
      for (let i = 0; i < update.value.length; i++) {
        if (update.ordinal[i] <= last) continue;
        for (const field of ["step", "value", "timestamp", "ordinal"]) line[field].push(update[field][i]);
        added++;
      }
    }
    if (!added) return 0;
    this.appended += added;
    if (this.appended > this.budget && !this.zoom) this.load();
    else this.render();
    return added;
  }

  /** For each line: its last ordinal and its highest step (what a poll asks after). */
  tails() {
    return this.lines.map((line) => {
      let step = null;
      for (const one of line.step) if (one !== null && (step === null || one > step)) step = one;
      const last = line.ordinal.length ? line.ordinal[line.ordinal.length - 1] : null;
      return { key: line.key, ordinal: last, step, steps: line.step.every((s) => s !== null) };
    });
  }

  setLog(log) {
    this.log = log;
    this.logButton.setAttribute("aria-pressed", String(log));
    if (this.options.onLog) this.options.onLog(log);
    this.render();
  }

  /** Switch the x axis. A zoomed chart keeps its window, mapped onto the new axis (the x
   * range of the points it shows), so that reset zoom and a double click still bring back the
   * whole series. */
  setXMode(mode) {
    if (mode === this.xMode) return;
    const wasTime = this.usesTime;
    this.xMode = mode;
    const useTime = mode === "time" || this.lines.some((line) => line.step.some((s) => s === null));
    if (this.zoom && useTime !== wasTime) {
      this.zoom = this.mapZoom(this.zoom, wasTime, useTime);
      this.zoomChanged();
    }
    this.render();
    if (!this.zoom && this.zoomed) this.resetZoom();
  }

  /** The window of the axis `toTime` that shows what the window `zoom` of the axis
   * `fromTime` shows; null when the lines have no point. */
  mapZoom(zoom, fromTime, toTime) {
    const found = this.extent(zoom, fromTime, toTime);
    if (found === null) return null;
    if (found.max === found.min) return { min: found.min - 0.5, max: found.max + 0.5 };
    return found;
  }

  /** Show the chart across the page's width and taller (or back in its column); it reads its
   * points again for its new width. */
  setEnlarged(enlarged) {
    this.enlarged = enlarged;
    this.host.classList.toggle("enlarged", enlarged);
    this.enlargeButton.setAttribute("aria-pressed", String(enlarged));
    this.enlargeButton.title = enlarged ? "Back to its place in the grid" : "Enlarge to the page's width";
    this.load();
    if (enlarged) this.host.scrollIntoView({ block: "nearest" });
  }

  setSmoothing(weight) {
    this.smoothing = weight;
    this.render();
  }

  /** Tell the page the window shown (null: the whole series), for its URL. */
  zoomChanged() {
    if (this.options.onZoom) this.options.onZoom(this.zoom);
  }

  zoomTo(min, max) {
    if (!(max > min)) return;
    this.zoom = { min, max };
    this.zoomChanged();
    this.resetButton.hidden = false;
    if (this.plot) this.plot.setScale("x", { min, max });
    this.load();
  }

  resetZoom() {
    if (!this.zoom && !this.zoomed) return;
    this.zoom = null;
    this.zoomChanged();
    this.resetButton.hidden = true;
    this.load();
  }

  fit() {
    if (!this.plot) return;
    const width = this.plotWidth + AXIS_WIDTH;
    if (Math.abs(this.plot.width - width) > 2) this.render();
  }

  destroyPlot() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }

  destroy() {
    this.generation++;
    this.resize.disconnect();
    this.destroyPlot();
  }

  /** A drawn line's special values: +inf and -inf among the points it holds; NaN over the
   * whole series where the page knows it (options.nanCount: the store's count), else among
   * the points it holds (a long series read to a budget keeps one NaN per bucket). */
  specialCounts(line) {
    const counts = { nan: 0, inf: 0, "-inf": 0 };
    for (const [, kind] of line.specials) counts[kind]++;
    const nan = this.options.nanCount ? this.options.nanCount(line) : null;
    if (nan !== null && nan !== undefined) counts.nan = nan;
    return counts;
  }

  /** What the chart holds (the tests read it). */
  summary() {
    const specials = {};
    for (const line of this.shown) specials[line.label] = this.specialCounts(line);
    return {
      labels: this.lines.map((line) => line.label),
      drawnLabels: this.shown.map((line) => line.label),
      hidden: this.lines.filter((line) => this.isHidden(line)).map((line) => line.label),
      colors: Object.fromEntries(this.lines.map((line) => [line.label, line.color])),
      points: Object.fromEntries(this.lines.map((line) => [line.label, line.value.length])),
      specials,
      dense: Object.fromEntries(this.shown.map((line) => [line.label, line.dense])),
      zoom: this.zoom,
      xMode: this.usesTime ? "time" : "step",
      log: this.log,
      smoothing: this.smoothing,
      loads: this.loads,
      drawn: Boolean(this.plot),
      size: this.plot ? { width: this.plot.width, height: this.plot.height } : null,
      enlarged: this.enlarged,
    };
  }

  isHidden(line) {
    return Boolean(this.options.hidden && this.options.hidden(line));
  }

  render() {
    if (this.options.style) for (const line of this.lines) Object.assign(line, this.options.style(line));
    const useTime = this.xMode === "time" || this.lines.some((line) => line.step.some((s) => s === null));
    this.usesTime = useTime;
    this.note.textContent = this.xMode === "step" && useTime ? "by time: points without a step" : "";
    const width = this.plotWidth;
    const series = [{ label: useTime ? "time" : "step" }];
    const tables = [];
    const bands = [];
    this.shown = [];
    let index = 1;
    for (const line of this.lines) {
      if (this.isHidden(line)) continue;
      const prepared = prepare(line, useTime, this.log);
      if (!prepared.x.length) continue;
      // A budgeted read keeps up to four points (first, last, min, max) per bucket of two pixel
      // columns: a line with about a point per column or more is drawn as its min/max band.
      const dense = prepared.x.length > width * 0.75;
      const shown = { ...line, ...prepared, dense, series: [] };
      const table = [];
      let drawnY = prepared.y;
      if (dense) {
        const cut = columns(prepared.x, prepared.y, width);
        table.push(cut.x, cut.lo, cut.hi);
        const edge = { stroke: rgba(line.color, 0.45), width: 1, points: { show: false }, spanGaps: true };
        series.push({ ...edge, label: `${line.label} min` }, { ...edge, label: `${line.label} max` });
        bands.push({ series: [index + 1, index], fill: rgba(line.color, 0.16) });
        index += 2;
        drawnY = cut.mid;
      } else {
        table.push(prepared.x);
      }
      const smoothed = this.smoothing > 0;
      table.push(drawnY);
      series.push({
        label: line.label,
        stroke: smoothed ? rgba(line.color, 0.25) : line.color,
        width: smoothed ? 1 : 1.6,
        dash: line.dash || undefined,
        spanGaps: true,
        points: { show: !dense && !smoothed && prepared.x.length < 60, size: 4 },
      });
      shown.series.push(index++);
      if (smoothed) {
        table.push(ema(drawnY, this.smoothing));
        series.push({ label: `${line.label} (smoothed)`, stroke: line.color, width: 1.8, dash: line.dash || undefined, spanGaps: true, points: { show: false } });
        shown.series.push(index++);
      }
      tables.push(table);
      this.shown.push(shown);
    }
    this.destroyPlot();
    if (!tables.length) {
      const hidden = this.lines.length && this.lines.every((line) => this.isHidden(line));
      const why = hidden ? "every line is hidden" : this.lines.length ? "no numeric values to draw" : "no points";
      this.canvas.replaceChildren(el("p.chart-empty", {}, why));
      this.renderLegend(null);
      return;
    }
    this.canvas.replaceChildren();
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const chart = this;
    const options = {
      width: width + AXIS_WIDTH,
      height: this.enlarged ? ENLARGED_HEIGHT : HEIGHT,
      legend: { show: false },
      padding: [12, 28, 0, 0], // room for the last x label, centred on its tick
      scales: {
        x: { time: useTime },
        y: this.log ? { distr: 3, log: 10 } : { auto: true },
      },
      axes: [
        { stroke: "#5b6475", grid: { stroke: "#eceef2", width: 1 }, ticks: { stroke: "#d9dce3" } },
        {
          stroke: "#5b6475",
          size: AXIS_WIDTH,
          grid: { stroke: "#eceef2", width: 1 },
          ticks: { stroke: "#d9dce3" },
          values: (u, values) => values.map((v) => formatValue(v)),
        },
      ],
      series,
      bands,
      cursor: {
        drag: { x: true, y: false, setScale: false },
        bind: { dblclick: () => null },
        points: { show: false },
      },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 3) return;
            const min = u.posToVal(u.select.left, "x");
            const max = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            chart.zoomTo(min, max);
          },
        ],
        setCursor: [(u) => chart.renderLegend(u.cursor.left >= 0 ? u.posToVal(u.cursor.left, "x") : null)],
        draw: [(u) => chart.drawMarkers(u)],
      },
    };
    this.plot = new uPlot(options, data, this.canvas);
    if (this.zoom) this.plot.setScale("x", { min: this.zoom.min, max: this.zoom.max });
    this.plot.over.addEventListener("dblclick", () => this.resetZoom());
    this.resetButton.hidden = !this.zoom && !this.zoomed;
    this.renderLegend(null);
  }

  drawMarkers(u) {
    const ctx = u.ctx;
    const ratio = devicePixelRatio || 1;
    const size = 4 * ratio;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.lineWidth = 1.6 * ratio;
    for (const line of this.shown) {
      if (!line.specials.length) continue;
      ctx.fillStyle = line.color;
      ctx.strokeStyle = line.color;
      let lastX = null;
      for (const [x, kind] of line.specials) {
        const px = u.valToPos(x, "x", true);
        if (px < left - 1 || px > left + width + 1) continue;
        if (lastX !== null && Math.abs(px - lastX) < 1 && kind === "nan") continue;
        lastX = px;
        const py = kind === "inf" ? top + size + 1 : top + height - size - 1;
        drawMarker(ctx, kind, px, py, size);
      }
    }
    ctx.restore();
  }

  /** Write the legend again, at the cursor if it is over the plot. */
  refreshLegend() {
    if (!this.plot) return;
    const left = this.plot.cursor.left;
    this.renderLegend(left >= 0 ? this.plot.posToVal(left, "x") : null);
  }

  /** The legend: each line's value nearest to the cursor (its last value otherwise); the
   * hidden lines after them, struck out. */
  renderLegend(atX) {
    const items = [];
    let heading = "";
    const toggle = this.options.onToggle;
    const entry = (line, ...children) => el(toggle ? "button.legend-item.toggle" : "span.legend-item", {
      type: toggle ? "button" : null,
      title: toggle ? `${this.isHidden(line) ? "Show" : "Hide"} ${line.label}` : null,
      dataset: { key: line.key },
      onclick: toggle ? () => toggle(line) : null,
    }, ...children);
    const badge = (line) => (this.options.badge ? this.options.badge(line) : null);
    for (const line of this.shown) {
      let i = line.x.length - 1;
      if (atX !== null && line.x.length) {
        i = lowerBound(line.x, atX);
        if (i >= line.x.length || (i > 0 && atX - line.x[i - 1] < line.x[i] - atX)) i -= 1;
        i = Math.max(0, Math.min(i, line.x.length - 1));
      }
      const x = line.x[i];
      if (atX !== null && !heading) heading = this.usesTime ? formatTime(x) : `step ${x}`;
      const counts = this.specialCounts(line);
      const flags = [
        counts.nan ? `${formatCount(counts.nan)} NaN` : "",
        counts.inf ? `${formatCount(counts.inf)} +inf` : "",
        counts["-inf"] ? `${formatCount(counts["-inf"])} −inf` : "",
      ].filter(Boolean).join(", ");
      const item = entry(line,
        el("i.swatch", { style: `background:${line.color}` + (line.dash ? ";opacity:.75" : "") }),
        el("span.legend-label", {}, line.label),
        badge(line),
        el("b.legend-value", {}, line.raw.length ? formatValue(line.raw[i]) : ""),
        flags ? el("span.legend-flags", {}, flags) : null);
      if (flags) item.title = `not drawn as a line: ${flags}`;
      items.push(item);
    }
    for (const line of this.lines) {
      if (!this.isHidden(line)) continue;
      const item = entry(line, el("i.swatch", { style: `background:${line.color}` }),
        el("span.legend-label", {}, line.label), badge(line));
      item.classList.add("off");
      items.push(item);
    }
    this.legend.replaceChildren(...(heading ? [el("span.legend-x", {}, heading)] : []), ...items);
  }
}
