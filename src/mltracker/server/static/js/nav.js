// Going to another page of the dashboard without reloading (app.js draws it), and the URLs of
// the pages.

/** The path under which the server is served ("" or "/prefix", without the final slash):
 * the root path of a reverse proxy (mltracker server --root-path), which the server writes
 * into the page. Every URL of the server that a page makes starts with it. */
export const ROOT = document.body.dataset.root || "";

export function navigate(href) {
  history.pushState(null, "", href);
  window.scrollTo(0, 0);
  window.dispatchEvent(new Event("mltracker:navigate"));
}

/** The path of the page shown within the server: location.pathname without ROOT. */
export function pagePath() {
  const path = location.pathname;
  if (ROOT && (path === ROOT || path.startsWith(`${ROOT}/`))) return path.slice(ROOT.length) || "/";
  return path;
}

/** The URL of a page. */
export const pages = {
  experiments: () => `${ROOT}/`,
  experiment: (name) => `${ROOT}/experiments/${encodeURIComponent(name)}`,
  model: (name, hash) =>
    `${ROOT}/experiments/${encodeURIComponent(name)}/models/${encodeURIComponent(hash)}`,
  compare: (name, hashes) =>
    `${ROOT}/experiments/${encodeURIComponent(name)}/compare?models=${hashes.map(encodeURIComponent).join(",")}`,
};
