// Following runs that log while a page is open: the last point of each series is polled, and
// a chart whose lines have newer points reads only those (from its lines' highest steps on).

import { decodePoints, get } from "./api.js";

/** At most this many reads of points at once: a server answers them one at a time
 * anyway (each holds a core), and the first chart comes sooner when it is not sharing. */
const READS_AT_ONCE = 2;
let reading = 0;
const waiting = [];

async function limited(read) {
  if (reading >= READS_AT_ONCE) await new Promise((resolve) => waiting.push(resolve));
  reading++;
  try {
    return await read();
  } finally {
    reading--;
    const next = waiting.shift();
    if (next) next();
  }
}

/** The metric lines of some models for a chart; toLine(model, series) -> a chart line. */
export function lineLoader(name, models, toLine) {
  return async ({ start, stop, budget }) => {
    const documents = await Promise.all(models.map((model) => limited(() =>
      get(`/models/${model.id}/metrics`, { name, start_step: start, stop_step: stop, budget }))));
    const lines = [];
    for (let i = 0; i < models.length; i++) {
      for (const series of decodePoints(documents[i])) lines.push(toLine(models[i], series));
    }
    return lines;
  };
}

/**
 * Bring the drawn charts of a grid up to date. latest: the decoded last points of the
 * models' series; keyOf(series) -> the chart line's key; fetchNew(name, start, budget) ->
 * the lines of points from step `start` on.
 *
 * A chart reads points only for a line whose last point (its ordinal) is newer than the
 * chart's, and only once per new last point: a last point the read did not bring (logged at
 * an earlier step than the line's last) is not asked for again at every poll.
 */
export async function refreshCharts(grid, latest, keyOf, fetchNew) {
  const byName = new Map();
  for (const series of latest) {
    if (!byName.has(series.name)) byName.set(series.name, []);
    byName.get(series.name).push(series);
  }
  const work = [];
  for (const [name, chart] of grid.charts) {
    if (!chart.plot && !chart.lines.length && chart.loads === 0) continue;
    const asked = chart.asked || (chart.asked = new Map());
    const tails = new Map(chart.tails().map((tail) => [tail.key, tail]));
    const stale = [];
    for (const series of byName.get(name) || []) {
      const key = keyOf(series);
      const newest = series.ordinal[series.ordinal.length - 1];
      const tail = tails.get(key);
      if (tail && tail.ordinal !== null && newest <= tail.ordinal) continue;
      if (asked.get(key) === newest) continue;
      asked.set(key, newest);
      stale.push(tail || null);
    }
    if (!stale.length) continue;
    if (chart.zoom || stale.some((tail) => tail === null || tail.step === null || !tail.steps)) {
      if (!chart.zoom) work.push(chart.load());
      continue;
    }
    const start = Math.min(...stale.map((tail) => tail.step));
    work.push(fetchNew(name, start, chart.budget).then((lines) => chart.merge(lines)));
  }
  await Promise.all(work);
}

/** The NaN count of a chart line's whole series, from the /overview/model document of its
 * model (documentOf(line)): the store's count, by run; null where the store cannot count. */
export function nanCounter(documentOf) {
  const maps = new WeakMap();
  return (line) => {
    const document = documentOf(line);
    if (!document) return null;
    let counts = maps.get(document);
    if (!counts) {
      counts = new Map((document.series || []).map((one) => [`${one.name}\u0000${one.phase ?? ""}`, one.nan]));
      maps.set(document, counts);
    }
    const byRun = counts.get(`${line.name}\u0000${line.phase ?? ""}`);
    if (byRun === null || byRun === undefined) return null;
    return byRun[line.run ?? ""] ?? 0;
  };
}
