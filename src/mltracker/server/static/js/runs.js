// Runs as the pages show them: status badges, durations, labels and colours, the params
// columns of a table of runs, and the runs of a model known to a page (RunBook).
//
// A run document is mltracker.server.run_documents': {id, model_id, name, status (as shown
// at the server's clock: running, finished, failed, killed or crashed), started_at,
// ended_at, heartbeat_at, host, params, exit}; a page gets `now` (the server's clock) with it.

import { PALETTE } from "./chart.js";
import { attributeText, el, flatten, formatTime } from "./dom.js";

/** The key of the points of no run (logged before runs, or by a writer that predates them). */
export const NO_RUN = "";
/** How NO_RUN is written in a page's URL. */
export const NO_RUN_TOKEN = "none";

const STATUS_TITLES = {
  running: "Running: its heartbeat is fresh",
  finished: "Finished",
  failed: "Failed: an exception or a non-zero exit",
  killed: "Killed by a signal",
  crashed: "Crashed: no heartbeat for longer than its timeout",
};

/** A run's status as a coloured badge (data-status holds the status, for styles and tests). */
export function statusBadge(status, title) {
  return el("span.badge", {
    dataset: { status },
    title: title || STATUS_TITLES[status] || status,
  }, status);
}

/** "45 s", "12 min 3 s", "2 h 5 min", "3 d 4 h". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** How long a run ran: to its end, to its last heartbeat (crashed), or to `now` (running). */
export function durationOf(run, now) {
  if (!run || run.started_at === null || run.started_at === undefined) return null;
  let end = now;
  if (run.ended_at !== null && run.ended_at !== undefined) end = run.ended_at;
  else if (run.status === "crashed") end = run.heartbeat_at ?? run.started_at;
  return end - run.started_at;
}

/** A run's name, or its id's start. */
export function runName(run) {
  if (!run) return "no run";
  return run.name ?? `run ${run.id.slice(0, 8)}`;
}

/** The params of runs flattened to paths ({"opt": {"lr": 1}} -> "opt.lr"), in the order they
 * first appear: a column each. */
export function paramKeys(runs) {
  const keys = new Set();
  for (const run of runs) for (const [key] of flatten(run.params || {})) if (key) keys.add(key);
  return [...keys];
}

/** A name as a run search writes it: itself if an identifier, else in backquotes. */
export function searchName(name) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `\`${name}\``;
}

/** The params of runs (as paramKeys), those whose values differ from run to run first (a
 * run without the param differs from one with it), then those every run has the same. */
export function paramKeysVaryFirst(runs) {
  const keys = paramKeys(runs);
  const seen = new Map(keys.map((key) => [key, new Set()]));
  for (const run of runs) {
    const params = new Map(flatten(run.params || {}));
    for (const key of keys) {
      seen.get(key).add(params.has(key) ? JSON.stringify(params.get(key)) : "missing");
    }
  }
  const varies = (key) => seen.get(key).size > 1;
  return [...keys.filter(varies), ...keys.filter((key) => !varies(key))];
}

/** The columns of a DataTable of runs: status, started, duration, host, one per param, exit;
 * each with the `field` a run search orders by (README, Sweeps), but exit. now() -> the
 * server's clock of the rows shown; keys: the params' columns (default paramKeys(runs)). */
export function runColumns(runs, now, { maxParams = 16, keys: given = null, extra = [] } = {}) {
  const keys = (given ?? paramKeys(runs)).slice(0, maxParams);
  const paramsOf = new WeakMap();
  const params = (run) => {
    if (!paramsOf.has(run)) paramsOf.set(run, new Map(flatten(run.params || {})));
    return paramsOf.get(run);
  };
  return [
    {
      key: "status", label: "Status", className: "status", field: "run.status",
      cell: (run) => (run.noRun ? el("span.muted", {}, "—") : statusBadge(run.status)),
    },
    {
      key: "started_at", label: "Started", numeric: true, className: "when", field: "run.started_at",
      cell: (run) => el("time", {}, formatTime(run.started_at)),
    },
    {
      key: "duration", label: "Duration", numeric: true, className: "when", field: "run.duration",
      value: (run) => durationOf(run, now()),
      cell: (run) => formatDuration(durationOf(run, now())),
    },
    { key: "host", label: "Host", className: "host", field: "run.host", cell: (run) => run.host ?? el("span.muted", {}, "—") },
    ...keys.map((key) => ({
      key: `param:${key}`,
      label: key,
      field: `params.${key.split(".").map(searchName).join(".")}`,
      title: `Sort by the param ${key}`,
      className: "param",
      value: (run) => {
        const value = params(run).get(key);
        return typeof value === "number" ? value : value === undefined ? null : attributeText(value);
      },
      cell: (run) => {
        const value = params(run).get(key);
        return value === undefined ? el("span.muted", {}, "—") : attributeText(value);
      },
    })),
    ...extra,
    {
      key: "exit", label: "Exit", className: "exit",
      cell: (run) => run.exit ?? "",
    },
  ];
}

/**
 * The runs of a model that a page knows: their documents by key (a run's id, or NO_RUN for
 * the points of no run), in the order they started, each with a colour of its own.
 */
export class RunBook {
  constructor() {
    this.byKey = new Map();
    this.order = [];
    this.now = Date.now() / 1000;
  }

  get size() {
    return this.order.length;
  }

  /** Take the runs of a document (oldest first) read at the server's `now`. Returns
   * {added: a run is new or renamed (the lines' labels and colours change), changed: a
   * status changed (the badges do)}. */
  update(runs, now) {
    if (now !== undefined) this.now = now;
    let added = false;
    let changed = false;
    for (const run of runs) {
      const known = this.byKey.get(run.id);
      if (known === undefined) this.order.push(run.id);
      if (known === undefined || known.name !== run.name) added = true;
      if (known === undefined || known.status !== run.status) changed = true;
      this.byKey.set(run.id, run);
    }
    return { added, changed };
  }

  /** Learn the runs of decoded series (a run that started after the runs were read, or points
   * of no run); true when one was new. */
  learn(series) {
    let added = false;
    for (const one of series) {
      const key = one.run ?? NO_RUN;
      if (this.byKey.has(key)) continue;
      this.byKey.set(key, key === NO_RUN ? null : { id: key, name: null, status: "running", params: {} });
      if (key === NO_RUN) this.order.unshift(key);
      else this.order.push(key);
      added = true;
    }
    return added;
  }

  run(key) {
    return this.byKey.get(key) ?? null;
  }

  /** Each run's label, told apart where names repeat. */
  label(key) {
    if (key === NO_RUN) return "no run";
    const run = this.byKey.get(key);
    const name = runName(run);
    if (!run || run.name === null) return name;
    let same = 0;
    for (const other of this.byKey.values()) if (other && other.name === run.name) same++;
    return same > 1 ? `${name} (${key.slice(0, 8)})` : name;
  }

  color(key) {
    const index = Math.max(0, this.order.indexOf(key));
    return PALETTE[index % PALETTE.length];
  }

  status(key) {
    const run = this.byKey.get(key);
    return run ? run.status : null;
  }

  /** The rows of a table of runs: the runs, and a row for the points of no run if any. */
  rows() {
    return this.order.map((key) => this.byKey.get(key) ?? {
      id: NO_RUN, name: "no run", status: null, started_at: null, ended_at: null,
      heartbeat_at: null, host: null, params: {}, exit: null, noRun: true,
    });
  }
}

/** The run keys of a URL list (NO_RUN written as NO_RUN_TOKEN), and back. */
export const runKeysFromUrl = (items) => items.map((item) => (item === NO_RUN_TOKEN ? NO_RUN : item));
export const runKeysToUrl = (keys) => [...keys].map((key) => (key === NO_RUN ? NO_RUN_TOKEN : key));
