// The dashboard's router: each page is a URL (path and query hold its state); links and the
// back button change pages without reloading.

import { ApiError } from "./api.js";
import { el, link, notice } from "./dom.js";
import { comparePage } from "./pages/compare.js";
import { experimentPage } from "./pages/experiment.js";
import { experimentsPage } from "./pages/experiments.js";
import { modelPage } from "./pages/model.js";
import { navigate, pagePath, pages } from "./nav.js";

const routes = [
  [/^\/$/, experimentsPage],
  [/^\/experiments\/([^/]+)\/models\/([^/]+)\/?$/, modelPage],
  [/^\/experiments\/([^/]+)\/compare\/?$/, comparePage],
  [/^\/experiments\/([^/]+)\/?$/, experimentPage],
];

const main = document.getElementById("page");
const crumbs = document.getElementById("crumbs");
const liveBadge = document.getElementById("live");
let current = null;

/** What a page gets: where to draw, its URL's parts, and the page's services. */
class PageContext {
  constructor(params) {
    this.params = params;
    this.query = new URLSearchParams(location.search);
    this.disposers = [];
    this.disposed = false;
    this.main = main;
  }

  /** Replace the URL's query: the page's state, shareable; with `push`, as a new history
   * entry (Back comes back to the state before). Lists are written as comma-separated items,
   * each encoded (read them with list()). */
  setQuery(values, { push = false } = {}) {
    const parts = [];
    for (const [key, value] of Object.entries(values)) {
      if (value === null || value === undefined || value === "" || value === false) continue;
      if (Array.isArray(value) && !value.length) continue;
      const text = Array.isArray(value)
        ? value.map((item) => encodeURIComponent(item)).join(",")
        : encodeURIComponent(String(value));
      parts.push(`${encodeURIComponent(key)}=${text}`);
    }
    const search = parts.length ? `?${parts.join("&")}` : "";
    if (search !== location.search) {
      if (push) history.pushState(null, "", location.pathname + search);
      else history.replaceState(history.state, "", location.pathname + search);
    }
    this.query = new URLSearchParams(location.search);
  }

  /** A list of the query (see setQuery). */
  list(key) {
    for (const part of location.search.slice(1).split("&")) {
      const equals = part.indexOf("=");
      if (equals < 0 || decodeURIComponent(part.slice(0, equals)) !== key) continue;
      return part.slice(equals + 1).split(",").filter(Boolean).map((item) =>
        decodeURIComponent(item.replaceAll("+", " ")));
    }
    return [];
  }

  crumbs(...items) {
    crumbs.replaceChildren(...items.flatMap((item, i) => [
      ...(i ? [el("span.sep", { "aria-hidden": "true" }, "›")] : []),
      typeof item === "string" ? el("span.crumb", {}, item) : item,
    ]));
    document.title = ["MLTracker", ...items.map((item) => item.textContent || item)].reverse().join(" · ");
  }

  onDispose(fn) {
    this.disposers.push(fn);
  }

  /** Run fn now and then every `ms` (one at a time; paused while the tab is hidden) until
   * the page is left; `ms` may be a function, asked after each run (a page that slows its
   * polling down). The live badge says whether the last run worked. */
  every(ms, fn) {
    const delay = typeof ms === "function" ? ms : () => ms;
    let timer = null;
    const tick = async () => {
      if (this.disposed) return;
      if (!document.hidden) {
        try {
          await fn();
          setLive("ok");
        } catch (error) {
          setLive("error", error.message);
        }
      }
      if (!this.disposed) timer = setTimeout(tick, delay());
    };
    timer = setTimeout(tick, delay());
    setLive("ok");
    this.onDispose(() => clearTimeout(timer));
  }

  dispose() {
    this.disposed = true;
    for (const fn of this.disposers.splice(0)) fn();
  }
}

function setLive(state, message) {
  liveBadge.dataset.state = state;
  liveBadge.title = state === "error" ? `Refresh failed: ${message}` : "The page refreshes while runs log";
  if (state === "ok") liveBadge.dataset.at = String(Date.now());
}

async function render() {
  if (current) current.dispose();
  liveBadge.dataset.state = "off";
  const path = pagePath();
  for (const [pattern, page] of routes) {
    const found = pattern.exec(path);
    if (!found) continue;
    const params = found.slice(1).map((part) => decodeURIComponent(part));
    const context = new PageContext(params);
    current = context;
    main.replaceChildren(el("p.muted.loading-page", {}, "Loading…"));
    try {
      await page(context);
    } catch (error) {
      if (context.disposed) return;
      const missing = error instanceof ApiError && error.status === 404;
      main.replaceChildren(notice("error",
        el("strong", {}, missing ? "Not found. " : "Could not load this page. "),
        error.message, " ", link(pages.experiments(), "All experiments")));
    }
    return;
  }
  current = null;
  crumbs.replaceChildren();
  main.replaceChildren(notice("error", "No page here. ", link(pages.experiments(), "All experiments")));
}

document.addEventListener("click", (event) => {
  const anchor = event.target.closest("a[data-nav]");
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", render);
window.addEventListener("mltracker:navigate", render);

if (document.body.dataset.login === "yes") document.getElementById("logout").hidden = false;

if (typeof window.uPlot === "undefined") {
  main.replaceChildren(notice("error",
    "The chart library (uPlot) is missing from this installation: reinstall MLTracker ",
    "(pip install .), which copies it into the package."));
} else {
  render();
}
