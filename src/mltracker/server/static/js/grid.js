// The charts of a page, one per metric name: grouped by prefix ("train/", "eval/"), filtered
// by a box, and drawn only when they scroll into view, so that a model with thousands of
// metric names stays responsive.

import { MetricChart } from "./chart.js";
import { debounce, el } from "./dom.js";

/** The group of a metric name: its prefix up to the first "/", or "" for none. */
export function groupOf(name) {
  const slash = name.indexOf("/");
  return slash > 0 ? name.slice(0, slash + 1) : "";
}

/** The phase of system metrics (CPU, memory, GPUs of a run): their charts have a section of
 * their own, "System", after the others. */
export const SYSTEM_PHASE = "system";
const SYSTEM_GROUP = "\u0000system";

/** Whether a name matches a filter: every word of the filter is part of it (any case). */
export function matches(name, filter) {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const lower = name.toLowerCase();
  return words.every((word) => lower.includes(word));
}

/** The zoomed windows of the query's `zoom` list ("name~min~max" items) as a Map. */
export function zoomsFromUrl(items) {
  const zooms = new Map();
  for (const item of items) {
    const last = item.lastIndexOf("~");
    const middle = last > 0 ? item.lastIndexOf("~", last - 1) : -1;
    if (middle <= 0) continue;
    const min = Number(item.slice(middle + 1, last));
    const max = Number(item.slice(last + 1));
    if (Number.isFinite(min) && Number.isFinite(max) && max > min) zooms.set(item.slice(0, middle), { min, max });
  }
  return zooms;
}

/** The zoomed windows of a Map as the query's `zoom` list (see zoomsFromUrl). */
export function zoomsToUrl(zooms) {
  const short = (value) => String(Number(value.toPrecision(15)));
  return [...(zooms || new Map())].map(([name, zoom]) => `${name}~${short(zoom.min)}~${short(zoom.max)}`);
}

/** Above this many charts, the groups after the first start closed. */
const OPEN_LIMIT = 40;

export class ChartGrid {
  /**
   * host: where the groups go. options: {makeLoad(name) -> load(range), state: {q, x,
   * smooth, log: Set, zoom: Map name -> {min, max} (optional)}, onState(), lines: {style,
   * hidden, onToggle, badge, nanCount} (see MetricChart)}:
   * the state is the page's (held in its URL).
   */
  constructor(host, options) {
    this.host = host;
    this.options = options;
    this.state = options.state;
    this.names = [];
    this.slots = new Map();
    this.groups = new Map();
    this.charts = new Map();
    this.phasesOf = new Map(); // name -> the phases seen for it
    this.count = el("span.grid-count");
    this.empty = el("p.muted", { hidden: true }, "No metric matches the filter.");
    host.replaceChildren(this.empty);
    this.observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          if (entry.isIntersecting) this.draw(entry.target.dataset.metric);
        }
      },
      { rootMargin: "400px 0px" },
    );
  }

  /** Whether every series seen of a name is a system metric (phase "system"). */
  isSystem(name) {
    const phases = this.phasesOf.get(name);
    return Boolean(phases) && phases.size === 1 && phases.has(SYSTEM_PHASE);
  }

  /** Add the names not shown yet (in the order given), each in its group; ``series`` (each
   * with its name and phase) tells the system metrics apart, which go to the System section. */
  setNames(names, series = []) {
    for (const one of series) {
      if (!this.phasesOf.has(one.name)) this.phasesOf.set(one.name, new Set());
      this.phasesOf.get(one.name).add(one.phase ?? null);
    }
    const fresh = names.filter((name) => !this.slots.has(name));
    if (!fresh.length) return;
    const many = this.names.length + fresh.length > OPEN_LIMIT;
    for (const name of fresh) {
      this.names.push(name);
      const system = this.isSystem(name);
      const prefix = system ? SYSTEM_GROUP : groupOf(name);
      let group = this.groups.get(prefix);
      if (!group) {
        const body = el("div.chart-grid");
        const label = el("span.group-count");
        const title = system ? "System" : prefix || "metrics";
        const summary = el("summary", {}, el("span.group-name", {}, title), label);
        const node = el("details.group", {
          open: !many || this.groups.size === 0,
          dataset: { group: system ? "system" : prefix },
        }, summary, body);
        if (system) node.classList.add("system");
        group = { node, body, label, names: [] };
        this.groups.set(prefix, group);
        const systemGroup = this.groups.get(SYSTEM_GROUP);
        // The System section stays last, after the groups of the model's own metrics.
        if (!system && systemGroup) this.host.insertBefore(node, systemGroup.node);
        else this.host.append(node);
      }
      const slot = el("section.chart-slot", { dataset: { metric: name } },
        el("div.chart-head", {}, el("h3.chart-title", {}, name)));
      group.names.push(name);
      group.body.append(slot);
      this.slots.set(name, slot);
      this.observer.observe(slot);
    }
    this.applyFilter();
  }

  applyFilter() {
    const filter = this.state.q || "";
    let shown = 0;
    for (const [prefix, group] of this.groups) {
      let inGroup = 0;
      for (const name of group.names) {
        const visible = matches(name, filter);
        this.slots.get(name).hidden = !visible;
        if (visible) inGroup++;
      }
      group.node.hidden = inGroup === 0;
      group.label.textContent = inGroup === group.names.length ? `${inGroup}` : `${inGroup} of ${group.names.length}`;
      group.node.classList.toggle("plain", prefix === "" && this.groups.size === 1);
      if (filter && inGroup) group.node.open = true;
      shown += inGroup;
    }
    this.empty.hidden = shown > 0 || !this.names.length;
    const total = this.names.length;
    this.count.textContent = filter
      ? `${shown} of ${total} chart${total === 1 ? "" : "s"}`
      : `${total} chart${total === 1 ? "" : "s"}`;
  }

  draw(name) {
    if (this.charts.has(name)) return;
    const slot = this.slots.get(name);
    if (!slot || slot.hidden) return;
    this.observer.unobserve(slot);
    const chart = new MetricChart(slot, {
      ...(this.options.lines || {}),
      title: name,
      load: this.options.makeLoad(name),
      xMode: this.state.x,
      log: this.state.log.has(name),
      smoothing: Number(this.state.smooth) || 0,
      zoom: this.state.zoom ? this.state.zoom.get(name) || null : null,
      onZoom: (zoom) => {
        if (!this.state.zoom) return;
        if (zoom) this.state.zoom.set(name, zoom);
        else this.state.zoom.delete(name);
        this.options.onState();
      },
      onLog: (log) => {
        if (log) this.state.log.add(name);
        else this.state.log.delete(name);
        this.options.onState();
      },
    });
    this.charts.set(name, chart);
    chart.load();
  }

  /** Draw every chart again (its lines' styles or the hidden lines changed). */
  restyle() {
    for (const chart of this.charts.values()) if (chart.lines.length) chart.render();
  }

  /** Write every legend again (a badge changed). */
  relegend() {
    for (const chart of this.charts.values()) chart.refreshLegend();
  }

  setXMode(mode) {
    this.state.x = mode;
    for (const chart of this.charts.values()) chart.setXMode(mode);
  }

  setSmoothing(weight) {
    this.state.smooth = weight;
    for (const chart of this.charts.values()) chart.setSmoothing(Number(weight) || 0);
  }

  destroy() {
    this.observer.disconnect();
    for (const chart of this.charts.values()) chart.destroy();
    this.charts.clear();
  }
}

/** The controls above the charts: filter, x axis, smoothing. */
export function chartToolbar(grid, onState) {
  const state = grid.state;
  const filter = el("input.filter", {
    type: "search",
    placeholder: "Filter metrics, e.g. train/ loss",
    value: state.q || "",
    "aria-label": "Filter metrics",
  });
  const refilter = debounce(() => {
    state.q = filter.value.trim();
    grid.applyFilter();
    onState();
  }, 150);
  filter.addEventListener("input", refilter);

  const xButtons = ["step", "time"].map((mode) =>
    el("button.seg", {
      type: "button",
      "aria-pressed": String(state.x === mode),
      dataset: { x: mode },
      onclick: () => {
        for (const button of xButtons) button.setAttribute("aria-pressed", String(button.dataset.x === mode));
        grid.setXMode(mode);
        onState();
      },
    }, mode === "step" ? "Step" : "Wall time"));

  const weight = Number(state.smooth) || 0;
  const shown = el("output.smooth-value", {}, weight.toFixed(2));
  const slider = el("input.smooth", {
    type: "range", min: "0", max: "0.99", step: "0.01", value: String(weight),
    "aria-label": "Smoothing",
  });
  const resmooth = debounce(() => {
    grid.setSmoothing(slider.value === "0" ? "" : slider.value);
    onState();
  }, 120);
  slider.addEventListener("input", () => {
    shown.textContent = Number(slider.value).toFixed(2);
    resmooth();
  });

  return el("div.toolbar", {},
    filter,
    grid.count,
    el("span.spacer"),
    el("span.control", {}, el("span.control-label", {}, "x axis"), el("span.segmented", {}, xButtons)),
    el("label.control", {}, el("span.control-label", {}, "Smoothing"), slider, shown));
}
