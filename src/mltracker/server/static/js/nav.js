// Going to another page of the dashboard without reloading (app.js draws it).

export function navigate(href) {
  history.pushState(null, "", href);
  window.scrollTo(0, 0);
  window.dispatchEvent(new Event("mltracker:navigate"));
}

/** The URL of a page. */
export const pages = {
  experiments: () => "/",
  experiment: (name) => `/experiments/${encodeURIComponent(name)}`,
  model: (name, hash) => `/experiments/${encodeURIComponent(name)}/models/${encodeURIComponent(hash)}`,
  compare: (name, hashes) =>
    `/experiments/${encodeURIComponent(name)}/compare?models=${hashes.map(encodeURIComponent).join(",")}`,
};
