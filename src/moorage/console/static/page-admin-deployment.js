// Administration > Deployment: what this deployment runs on and how it is set up, read-only
// (GET /api/v1/deployment; the API leaves every secret out).

import { api } from "./api.js";
import { clear, formatBytes, formatDate, h, plural } from "./dom.js";
import { adminNav, adminOnly } from "./admin-tabs.js";
import { alertBox, messageOf } from "./widgets/alert.js";
import { iconButton } from "./widgets/buttons.js";
import { breadcrumbs, card, facts, pageHead } from "./widgets/layout.js";
import { loading } from "./widgets/placeholders.js";

/**
 * @typedef {object} Deployment
 * @property {string} version
 * @property {string} region
 * @property {{backend: string, location: string}} metadata
 * @property {{driver: "filesystem" | "s3", root: string | null, bucket: string | null, endpoint: string | null, region: string | null, prefix: string | null}} storage_driver
 * @property {string | null} public_host
 * @property {string | null} private_host
 * @property {"token" | "none"} auth
 * @property {number} token_lifetime_minutes
 * @property {number} upload_expiry_hours
 * @property {number} gc_grace_seconds
 * @property {{cron: string | null, next_run_at: string | null, last_run_at: string | null}} gc_schedule
 * @property {{blobs: number, stored_bytes: number, referenced_bytes: number, unreferenced_blobs: number, unreferenced_bytes: number}} storage
 * @property {{registries: number, projects: number, users: number}} counts
 * @property {boolean} background_jobs
 */

const TITLE = "Deployment";
const BACKENDS = /** @type {Record<string, string>} */ ({ sqlite: "SQLite", postgresql: "PostgreSQL" });

/** @param {string} text */
const mono = (text) => h("code", { class: "mono small" }, text);
const unset = (/** @type {string} */ text = "Not set") => h("span", { class: "muted" }, text);

/** @param {number} seconds "2 hours", "90 seconds" */
function duration(seconds) {
  if (seconds % 3600 === 0 && seconds >= 3600) return plural(seconds / 3600, "hour");
  if (seconds % 60 === 0 && seconds >= 60) return plural(seconds / 60, "minute");
  return plural(seconds, "second");
}

/** @param {Deployment["storage_driver"]} storage */
function storageFacts(storage) {
  if (storage.driver === "filesystem") return [["Storage driver", "Filesystem"], ["Blob directory", mono(storage.root || ""), { wide: true }]];
  return [
    ["Storage driver", "S3"],
    ["Bucket", mono(storage.bucket || "")],
    ["Endpoint", storage.endpoint ? mono(storage.endpoint) : unset("AWS")],
    ["S3 region", storage.region || unset()],
    ["Key prefix", storage.prefix ? mono(storage.prefix) : unset("None")],
  ];
}

/** @param {Deployment} found */
function deploymentFacts(found) {
  const schedule = found.gc_schedule;
  return facts(
    /** @type {Array<import("./widgets/layout.js").Fact>} */ ([
      ["Version", found.version],
      ["Region", found.region],
      ["Metadata backend", BACKENDS[found.metadata.backend] || found.metadata.backend],
      ["Database", mono(found.metadata.location), { wide: true }],
      ...storageFacts(found.storage_driver),
      ["Public host", found.public_host ? mono(found.public_host) : unset()],
      ["Private host", found.private_host ? mono(found.private_host) : unset()],
      ["Authentication", found.auth === "token" ? "On (tokens)" : "Off: anyone may do anything"],
      ["Token lifetime", plural(found.token_lifetime_minutes, "minute")],
      ["Upload expiry", duration(found.upload_expiry_hours * 3600)],
      ["GC grace window", duration(found.gc_grace_seconds)],
      ["GC schedule", schedule.cron ? h("span", {}, mono(schedule.cron), " UTC", schedule.next_run_at && h("span", { class: "muted" }, `, next ${formatDate(schedule.next_run_at)}`)) : unset("None")],
      ["Stored", `${formatBytes(found.storage.stored_bytes)} in ${plural(found.storage.blobs, "blob")}`],
      ["Unreferenced", `${formatBytes(found.storage.unreferenced_bytes)} in ${plural(found.storage.unreferenced_blobs, "blob")}`],
      ["Registries", found.counts.registries.toLocaleString()],
      ["Projects", found.counts.projects.toLocaleString()],
      ["Users", found.counts.users.toLocaleString()],
      ["Background jobs", found.background_jobs ? "Run in this server" : "Not in this server (moorage worker runs them)"],
    ]),
  );
}

/** @param {import("./main.js").PageContext} context */
export function render({ session, signal, setTitle, ready }) {
  setTitle(TITLE);
  const crumbs = breadcrumbs([{ label: "Administration" }, { label: TITLE }]);
  if (!session.me?.is_admin) return h("div", { class: "page" }, crumbs, adminOnly());
  const body = h("div", {}, loading("Loading the deployment…"));

  async function load() {
    try {
      /** @type {Deployment} */
      const found = await api.get("/deployment", undefined, { signal });
      clear(body, deploymentFacts(found));
    } catch (error) {
      if (signal.aborted) return;
      clear(body, alertBox(messageOf(error), { title: "Could not load the deployment.", retry: load }));
    }
    ready?.();
  }
  load();

  return h(
    "div",
    { class: "page" },
    crumbs,
    pageHead({ title: TITLE, iconName: "sliders", subtitle: "What this deployment runs on and how it is set up. Read-only: it is set in the server's settings." }),
    adminNav("/admin/deployment"),
    card("Summary", body, { actions: iconButton("refresh", "Refresh the deployment summary", { onClick: () => load() }) }),
  );
}
