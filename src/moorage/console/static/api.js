// The console's only way to the server: the REST API under /api/v1.

const BASE = "/api/v1";
const CSRF_KEY = "moorage.csrf";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * An RFC 9457 problem body, as far as the console reads it.
 * @typedef {object} Problem
 * @property {string} [type]
 * @property {string} [title]
 * @property {string} [detail]
 * @property {FieldProblem[]} [errors] one per field at fault
 * @property {string} [digest] already-exists for a tag: the artifact the tag points at
 * @property {number} [limit] limit-reached: the most allowed
 */

/**
 * A field at fault: `field` names it (dotted for a nested member: `image.pattern`); schema
 * errors (422) also carry FastAPI's `location` and `message`.
 * @typedef {{field: string, detail: string, location?: Array<string | number>, message?: string}} FieldProblem
 */

/**
 * One page of a list endpoint.
 * @template T
 * @typedef {{items: T[], total: number}} Page
 */

/**
 * The query of a paged list: page number and size, search text and sort order.
 * @typedef {{page: number, page_size: number, q?: string, sort?: string}} PageQuery
 */

/**
 * @typedef {object} RequestOptions
 * @property {Record<string, unknown>} [query] added to the address (empty values left out)
 * @property {unknown} [body] sent as JSON
 * @property {AbortSignal} [signal]
 * @property {boolean} [signedOutOk] a 401 is an ordinary error, not a reason to leave the page
 */

/** An RFC 9457 problem (or a network failure, status 0); `detail` is the message to show. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {Problem} problem
   */
  constructor(status, problem) {
    super(problem.detail || problem.title || `request failed (${status})`);
    this.status = status;
    this.type = problem.type || "";
    this.title = problem.title || "";
    this.detail = this.message;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.problem = problem;
  }

  get kind() {
    return this.type.split("/").pop();
  }
}

/**
 * Whether a failure is a request given up on purpose (its page is gone), not an error to show.
 * @param {unknown} error
 */
export function isAbortError(error) {
  return typeof error === "object" && error !== null && /** @type {{name?: unknown}} */ (error).name === "AbortError";
}

/** @type {(reason: string) => void} */
let onSignedOut = () => {};

/**
 * Called with a reason ("expired", "tab") when the session is gone (401, or a lost CSRF token).
 * @param {(reason: string) => void} handler
 */
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

export const csrf = {
  get: () => sessionStorage.getItem(CSRF_KEY),
  set: (/** @type {string} */ token) => sessionStorage.setItem(CSRF_KEY, token),
  clear: () => sessionStorage.removeItem(CSRF_KEY),
};

/** @param {Record<string, unknown> | undefined} params */
function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/**
 * request("GET", "/registries", {query: {page: 1}}) → parsed JSON (null for 204).
 * `signedOutOk`: a 401 is an ordinary error (the sign-in form), not a reason to leave the page.
 * The answer is not checked: callers say what they expect (`any` unless they do).
 * @template [T=any]
 * @param {string} method
 * @param {string} path
 * @param {RequestOptions} [options]
 * @returns {Promise<T>}
 */
export async function request(method, path, { query: params, body, signal, signedOutOk } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json", "X-Moorage-Console": "1" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = csrf.get();
  if (UNSAFE.has(method) && token) headers["X-CSRF-Token"] = token;
  let response;
  try {
    response = await fetch(`${BASE}${path}${query(params)}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (isAbortError(error)) throw error;
    throw new ApiError(0, { detail: "Cannot reach the server. Check your connection and try again." });
  }
  if (response.status === 204) return /** @type {T} */ (null);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.ok) return data;
  const problem = data && typeof data === "object" ? data : { detail: `${response.status} ${response.statusText}` };
  const error = new ApiError(response.status, problem);
  if (!signedOutOk && response.status === 401) {
    onSignedOut("expired");
  } else if (!signedOutOk && response.status === 403 && error.kind === "csrf-failed") {
    onSignedOut("tab");
  }
  throw error;
}

/** @typedef {Omit<RequestOptions, "body">} Options */

export const api = {
  /** @type {<T = any>(path: string, params?: Record<string, unknown>, options?: Options) => Promise<T>} */
  get: (path, params, options = {}) => request("GET", path, { ...options, query: params }),
  /** @type {<T = any>(path: string, body?: unknown, options?: Options) => Promise<T>} */
  post: (path, body, options = {}) => request("POST", path, { ...options, body }),
  /** @type {<T = any>(path: string, body?: unknown, options?: Options) => Promise<T>} */
  put: (path, body, options = {}) => request("PUT", path, { ...options, body }),
  /** @type {<T = any>(path: string, body?: unknown, options?: Options) => Promise<T>} */
  patch: (path, body, options = {}) => request("PATCH", path, { ...options, body }),
  /** @type {<T = any>(path: string, body?: unknown, options?: Options) => Promise<T>} */
  delete: (path, body, options = {}) => request("DELETE", path, { ...options, body }),
};
