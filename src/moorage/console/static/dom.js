// Building DOM nodes, formatting values, icons and the clipboard.

/**
 * What may stand as a child of h(): nodes, text, numbers, and nested lists of them;
 * null, undefined and false stand for nothing (so `cond && node` works).
 * @typedef {Node | string | number | boolean | null | undefined | Children} Child
 */
/** @typedef {Child[]} Children */

/**
 * The props of h(): "class" (a string or a list, falsy entries dropped), "dataset",
 * "onClick"-style listeners, the DOM properties in PROPERTIES, and attributes (true → "").
 * A null, undefined or false value is left out.
 * @typedef {Record<string, unknown>} Props
 */

const PROPERTIES = new Set(["value", "checked", "disabled", "selected", "indeterminate", "hidden", "open"]);

/**
 * h("a", {href, class, onClick}, child, [children], "text") → Element.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props | null} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  append(el, children);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : String(value);
    } else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), /** @type {EventListener} */ (value));
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (PROPERTIES.has(key)) {
      /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (el))[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  return el;
}

/**
 * @template {ParentNode} P
 * @param {P} parent
 * @param {Child[]} children
 * @returns {P}
 */
export function append(parent, children) {
  for (const child of /** @type {unknown[]} */ (children).flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/**
 * @template {ParentNode} P
 * @param {P} el
 * @param {...Child} children
 * @returns {P}
 */
export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let sequence = 0;
/**
 * A document-unique id for label/aria wiring.
 * @param {string} [prefix]
 */
export function uid(prefix = "id") {
  sequence += 1;
  return `${prefix}-${sequence}`;
}

/**
 * Text with line-break opportunities after "/" and "@" (long references wrap at parts).
 * @param {string} text
 */
export function breakable(text) {
  const parts = String(text).split(/(?<=[/@])/);
  /** @type {Array<string | HTMLElement>} */
  const out = [];
  parts.forEach((part, i) => {
    if (i > 0) out.push(document.createElement("wbr"));
    out.push(part);
  });
  return out;
}

/** Percent-encodes one path segment (an image name's "/" becomes %2F). */
export const enc = encodeURIComponent;

// Formatting ---------------------------------------------------------------------------------

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** @param {number | null | undefined} bytes */
export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

const DATE_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const DAY_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** @param {string | null | undefined} iso */
export function formatDate(iso) {
  return iso ? DATE_FORMAT.format(new Date(iso)) : "—";
}

/** @param {string | null | undefined} iso */
export function formatDay(iso) {
  return iso ? DAY_FORMAT.format(new Date(iso)) : "—";
}

/** @param {string | null | undefined} iso */
export function formatRelative(iso) {
  if (!iso) return "Never";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  /** @type {Array<[number, Intl.RelativeTimeFormatUnit]>} */
  const steps = [
    [60, "second"],
    [60, "minute"],
    [24, "hour"],
    [30, "day"],
    [12, "month"],
    [Infinity, "year"],
  ];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) {
      if (unit === "second") return "just now";
      return RELATIVE.format(Math.round(value), unit);
    }
    value /= size;
  }
  return formatDate(iso);
}

/**
 * <time> showing a relative time, with the exact time as its tooltip.
 * @param {string | null | undefined} iso
 * @param {{never?: string, absolute?: boolean}} [options]
 */
export function timeCell(iso, { never = "Never", absolute = false } = {}) {
  if (!iso) return h("span", { class: "muted" }, never);
  return h(
    "time",
    { datetime: iso, title: new Date(iso).toLocaleString() },
    absolute ? formatDate(iso) : formatRelative(iso),
  );
}

/**
 * sha256:0123456789ab — the algorithm and the first 12 hex digits.
 * @param {string | null | undefined} digest
 */
export function shortDigest(digest) {
  if (!digest) return "";
  const [algorithm, hex] = digest.split(":");
  return hex ? `${algorithm}:${hex.slice(0, 12)}` : digest;
}

/** @type {Record<string, string>} */
const MEDIA_TYPES = {
  "application/vnd.oci.image.index.v1+json": "OCI image index",
  "application/vnd.oci.image.manifest.v1+json": "OCI image",
  "application/vnd.docker.distribution.manifest.list.v2+json": "Docker manifest list",
  "application/vnd.docker.distribution.manifest.v2+json": "Docker image",
  "application/vnd.docker.distribution.manifest.v1+prettyjws": "Docker image (schema 1)",
};

/** @type {Record<string, string | null>} */
const ARTIFACT_TYPES = {
  "application/vnd.oci.image.config.v1+json": null,
  "application/vnd.docker.container.image.v1+json": null,
  "application/vnd.cncf.helm.config.v1+json": "Helm chart",
  "application/vnd.oci.empty.v1+json": null,
  "application/vnd.dev.cosign.artifact.sig.v1+json": "Signature",
  "application/vnd.cncf.notary.signature": "Notary signature",
  "application/spdx+json": "SPDX SBOM",
  "application/vnd.cyclonedx+json": "CycloneDX SBOM",
};

/**
 * A readable name for an artifact's kind; the raw media type goes in the tooltip.
 * @param {string} mediaType
 * @param {string | null | undefined} [artifactType]
 */
export function artifactKind(mediaType, artifactType) {
  if (artifactType && ARTIFACT_TYPES[artifactType] !== null) {
    return ARTIFACT_TYPES[artifactType] || "Artifact";
  }
  return MEDIA_TYPES[mediaType] || mediaType || "Unknown";
}

/** @param {string} mediaType */
export function isIndex(mediaType) {
  return (
    mediaType === "application/vnd.oci.image.index.v1+json" ||
    mediaType === "application/vnd.docker.distribution.manifest.list.v2+json"
  );
}

/**
 * @param {number} count
 * @param {string} one
 * @param {string} [many]
 */
export function plural(count, one, many = `${one}s`) {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}

// Icons (hand-drawn, 24×24, stroked with currentColor) ----------------------------------------

/** @type {Record<string, string[]>} */
const ICONS = {
  copy: ["rect 8 8 12 12 2", "path M16 8V6a2 2 0 0 0-2-2H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h2"],
  check: ["path M5 12.5l4.5 4.5L19 7.5"],
  trash: [
    "path M4 7h16",
    "path M10 11v6M14 11v6",
    "path M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12",
    "path M9 7V4.5A1.5 1.5 0 0 1 10.5 3h3A1.5 1.5 0 0 1 15 4.5V7",
  ],
  plus: ["path M12 5v14M5 12h14"],
  search: ["circle 11 11 6.5", "path M16 16l4.5 4.5"],
  close: ["path M6 6l12 12M18 6L6 18"],
  left: ["path M15 5l-7 7 7 7"],
  right: ["path M9 5l7 7-7 7"],
  up: ["path M7 14l5-5 5 5"],
  down: ["path M7 10l5 5 5-5"],
  sort: ["path M8 9.5l4-4 4 4M8 14.5l4 4 4-4"],
  warning: ["path M12 3.5L2.5 20h19L12 3.5z", "path M12 10v4.5M12 17.2v.3"],
  info: ["circle 12 12 9", "path M12 11v5.5M12 7.6v.3"],
  error: ["circle 12 12 9", "path M12 7.5v5.5M12 16.2v.3"],
  key: ["circle 8 15 4.5", "path M11.2 11.8L20 3M16.5 6.5l3 3M14 9l2 2"],
  box: ["path M3.5 7.5L12 3l8.5 4.5v9L12 21l-8.5-4.5z", "path M3.5 7.5L12 12l8.5-4.5M12 12v9"],
  layers: ["path M12 3l9 5-9 5-9-5z", "path M3 13l9 5 9-5"],
  signout: ["path M14 4h4a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-4", "path M9 8l-4 4 4 4M5 12h10"],
  terminal: ["rect 3 4 18 16 2", "path M7 9l3 3-3 3M12.5 15H17"],
  users: ["circle 9 8 3.5", "path M2.5 20a6.5 6.5 0 0 1 13 0", "path M16 4.5a3.5 3.5 0 0 1 0 7M18 14a5.5 5.5 0 0 1 3.5 6"],
  user: ["circle 12 8 4", "path M4 21a8 8 0 0 1 16 0"],
  refresh: ["path M20 11a8 8 0 0 0-14.5-4.5L4 8", "path M4 4v4h4", "path M4 13a8 8 0 0 0 14.5 4.5L20 16", "path M20 20v-4h-4"],
  tag: ["path M3 12V4a1 1 0 0 1 1-1h8l9 9-9 9z", "circle 8 8 1.5"],
  sliders: ["path M4 6h9M17 6h3M4 12h3M11 12h9M4 18h11M19 18h1", "circle 15 6 2", "circle 9 12 2", "circle 17 18 2"],
  lock: ["rect 5 11 14 10 2", "path M8 11V7.5a4 4 0 0 1 8 0V11"],
  replicate: ["path M4 8h14l-3.5-3.5", "path M20 16H6l3.5 3.5"],
  globe: ["circle 12 12 9", "path M3 12h18", "path M12 3a13.5 13.5 0 0 1 0 18a13.5 13.5 0 0 1 0-18"],
  anchor: [
    "circle 12 5 2",
    "path M12 7v14",
    "path M8 11h8",
    "path M4 14a8 8 0 0 0 16 0",
    "path M2.5 15.5L4 14l1.5 1.5M18.5 15.5L20 14l1.5 1.5",
  ],
};

const SVG = "http://www.w3.org/2000/svg";

/**
 * @param {string} name one of ICONS' names
 * @param {string} [className]
 */
export function icon(name, className = "icon") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const spec of ICONS[name] || []) {
    const [kind, ...args] = spec.split(" ");
    const shape = document.createElementNS(SVG, kind);
    if (kind === "path") shape.setAttribute("d", args.join(" "));
    if (kind === "circle") {
      const [cx, cy, r] = args;
      Object.entries({ cx, cy, r }).forEach(([k, v]) => shape.setAttribute(k, v));
    }
    if (kind === "rect") {
      const [x, y, width, height, rx] = args;
      Object.entries({ x, y, width, height, rx }).forEach(([k, v]) => shape.setAttribute(k, v));
    }
    svg.append(shape);
  }
  return svg;
}

// Clipboard ----------------------------------------------------------------------------------

/**
 * Copies text: the Clipboard API where the page may use it, else a selected textarea.
 * @param {string} text
 */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the older way (permissions, unfocused document)
    }
  }
  const area = h("textarea", { class: "clipboard-buffer", readonly: true, "aria-hidden": "true" });
  area.value = text;
  const focused = document.activeElement;
  (document.querySelector("dialog[open]") || document.body).append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  if (focused instanceof HTMLElement) focused.focus();
  return ok;
}
