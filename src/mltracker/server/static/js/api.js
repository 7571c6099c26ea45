// The REST API (/api/v1) as the pages use it, and the wire format of metric points.

import { ROOT, pagePath } from "./nav.js";

/** The API's URL path, under the server's root path. */
export const API = `${ROOT}/api/v1`;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The query string of an object: arrays repeat their key, null and undefined are left out. */
export function query(params = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) search.append(key, String(one));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}


/** GET a JSON document of the API. A 401 sends the browser to the login form. */
export async function get(path, params, { signal } = {}) {
  return request("GET", path + query(params), undefined, signal);
}

/** POST a JSON body to a route of the API that reads (e.g. /runs/summaries); its answer. */
export async function post(path, body, { signal } = {}) {
  return request("POST", path, body, signal);
}

async function request(method, path, body, signal) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  if (response.status === 401 && document.body.dataset.login === "yes") {
    const next = pagePath() + location.search;
    location.assign(`${ROOT}/login?next=${encodeURIComponent(next)}`);
    throw new ApiError(401, "backend.access_denied", "log in first");
  }
  if (!response.ok) {
    let code = "backend.remote";
    let message = `${response.status} ${response.statusText}`;
    try {
      const document = await response.json();
      code = document.error.code;
      message = document.error.message;
    } catch {
      // not an envelope: keep the status line
    }
    throw new ApiError(response.status, code, message);
  }
  return response.json();
}

const NON_FINITE = { nan: NaN, inf: Infinity, "-inf": -Infinity };
const FLOAT = 0;
const INT = 1;

/** The value of point i of a wire document: a number, a boolean, or {text} for values that
 * are not numbers (strings and JSON). */
function wireValue(document, i) {
  const value = document.value[i];
  if (value !== null) return value;
  const [kind, text] = document.exact[String(i)];
  if (kind === FLOAT) return text in NON_FINITE ? NON_FINITE[text] : Number(text);
  if (kind === INT) return Number(text);
  return { text };
}

/** The series of a wire document (mltracker.wire: columns in logged order), each with its
 * points in order: {model, name, phase, run, step[], value[], timestamp[], ordinal[]}; run
 * is the id of the run that logged them, or null (points of no run). */
export function decodePoints(document) {
  const runs = document.runs || [];
  const series = document.series.map(([model, name, phase], index) => ({
    model,
    name,
    phase,
    run: runs[index] ?? null,
    step: [],
    value: [],
    timestamp: [],
    ordinal: [],
  }));
  const count = document.s.length;
  for (let i = 0; i < count; i++) {
    const one = series[document.s[i]];
    one.step.push(document.step[i]);
    one.value.push(wireValue(document, i));
    one.timestamp.push(document.timestamp[i]);
    one.ordinal.push(document.ordinal[i]);
  }
  return series;
}

/** A value as a chart draws it: a number (booleans as 0 and 1), or null. */
export function numeric(value) {
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  return null;
}
