// Small helpers for building the pages: elements, formatting of values and times.

/** An element: el("a.link", {href: "/"}, "text", child, ...). Attributes starting with "on"
 * are listeners; null and false attributes are left out. */
export function el(spec, attributes = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "className") {
      if (value) node.className = [node.className, value].filter(Boolean).join(" ");
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (name in node && typeof value !== "string") {
      node[name] = value;
    } else {
      node.setAttribute(name, value === true ? "" : value);
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

/** A link to a page of the dashboard (followed without reloading). */
export function link(href, ...children) {
  return el("a", { href, "data-nav": true }, ...children);
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

const compact = new Intl.NumberFormat("en", { maximumSignificantDigits: 6 });
const integer = new Intl.NumberFormat("en");

/** A metric value as people read it: 6 significant digits, NaN and infinities spelled. */
export function formatValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (value === Infinity) return "+inf";
    if (value === -Infinity) return "−inf";
    if (Object.is(value, -0)) return "-0";
    if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
    const magnitude = Math.abs(value);
    if (magnitude !== 0 && (magnitude < 1e-4 || magnitude >= 1e9)) return value.toExponential(4);
    return compact.format(value);
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "object" && value.text !== undefined) return value.text;
  return String(value);
}

/** "1 model", "3 models", "1,000 models". */
export function plural(count, word) {
  return `${formatCount(count)} ${word}${count === 1 ? "" : "s"}`;
}

export function formatCount(value) {
  return value === null || value === undefined ? "—" : integer.format(value);
}

/** Seconds since the epoch as local date and time. */
export function formatTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const date = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", then the date. */
export function formatAgo(seconds, now = Date.now() / 1000) {
  if (seconds === null || seconds === undefined) return "";
  const delta = Math.max(0, now - seconds);
  if (delta < 10) return "just now";
  if (delta < 60) return `${Math.floor(delta)} s ago`;
  if (delta < 3600) return `${Math.floor(delta / 60)} min ago`;
  if (delta < 86400) return `${Math.floor(delta / 3600)} h ago`;
  if (delta < 86400 * 30) return `${Math.floor(delta / 86400)} days ago`;
  return formatTime(seconds).slice(0, 10);
}

/** A time cell: relative, with the exact time in its tooltip. */
export function timeCell(seconds) {
  return el("time", { title: formatTime(seconds), dataset: { t: String(seconds ?? "") } },
    formatAgo(seconds));
}

/** Calls fn at most once per wait ms, with the last arguments. */
export function debounce(fn, wait) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}

/** "name", or "name · phase" for a series with a phase: how a series is labelled
 * everywhere, never the same for two series (a "/" belongs to metric names: "loss/train"
 * with no phase and "loss" in phase "train" are "loss/train" and "loss · train"). */
export function seriesLabel(name, phase) {
  return phase === null || phase === undefined ? name : `${name} · ${phase}`;
}

export function phaseLabel(phase) {
  return phase === null || phase === undefined ? "(no phase)" : phase;
}

/** A message in place of a page's content. */
export function notice(kind, ...children) {
  return el(`div.notice.${kind}`, { role: kind === "error" ? "alert" : null }, ...children);
}

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

/** An attribute's (or a param's) value as text. */
export function attributeText(value) {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return formatValue(value);
  return JSON.stringify(value);
}
