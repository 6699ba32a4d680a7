// A table's rows that change by themselves (runs in progress, pending deliveries): the
// table loads through it, and it asks again now and then while the rows may still change,
// reloading the table once they do.

import { api, isAbortError } from "../api.js";

/**
 * @template T
 * @typedef {import("../api.js").Page<T>} Page
 */

/**
 * @template T
 * @typedef {object} LiveSourceOptions
 * @property {string} path the list's API path
 * @property {AbortSignal} signal
 * @property {(page: Page<T>) => number | null} interval how long to wait before asking again, or null: stop
 * @property {number} retryAfter how long to wait after a failed check
 * @property {() => void} reload loads the table again (which calls load, then watch)
 * @property {() => boolean} [alive] whether the table is still shown
 */

/**
 * Give the table `load`, and call `watch(result)` from its onLoaded.
 * @template T
 * @param {LiveSourceOptions<T>} options
 */
export function liveSource({ path, signal, interval, retryAfter, reload, alive }) {
  /** @type {Record<string, unknown> | null} */
  let lastQuery = null;
  let lastItems = "";
  let lastTotal = 0;
  let timer = 0;

  /** @param {Page<T>} page */
  function watch(page) {
    window.clearTimeout(timer);
    const wait = interval(page);
    if (wait !== null) timer = window.setTimeout(poll, wait);
  }

  async function poll() {
    if (signal.aborted || !lastQuery || (alive && !alive())) return;
    try {
      /** @type {Page<T>} */
      const fresh = await api.get(path, lastQuery, { signal });
      if (JSON.stringify(fresh.items) !== lastItems || fresh.total !== lastTotal) reload();
      else watch(fresh);
    } catch (error) {
      if (!isAbortError(error) && !signal.aborted) timer = window.setTimeout(poll, retryAfter);
    }
  }
  signal.addEventListener("abort", () => window.clearTimeout(timer));

  return {
    /**
     * @param {Record<string, unknown>} query
     * @returns {Promise<Page<T>>}
     */
    async load(query) {
      lastQuery = query;
      /** @type {Page<T>} */
      const page = await api.get(path, query, { signal });
      lastItems = JSON.stringify(page.items);
      lastTotal = page.total;
      return page;
    },
    watch,
    stop: () => window.clearTimeout(timer),
  };
}
