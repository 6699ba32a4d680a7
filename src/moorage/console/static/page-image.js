// One image: its artifacts (manifests and indexes), with their tags.

import { api, ApiError } from "./api.js";
import { artifactKind, enc, formatBytes, h, isIndex, plural, shortDigest, timeCell } from "./dom.js";
import { protectedBadge, protectionPolicyName } from "./policies.js";
import { can, hostOf } from "./registry-actions.js";
import { badge } from "./widgets/badge.js";
import { button, link } from "./widgets/buttons.js";
import { confirmThen } from "./widgets/confirm.js";
import { commandBlock, copyButton, copyable } from "./widgets/copy.js";
import { breadcrumbs, pageHead } from "./widgets/layout.js";
import { emptyState } from "./widgets/placeholders.js";
import { resourceList } from "./widgets/resource-list.js";

/**
 * An artifact of an image as listed.
 * @typedef {object} ArtifactSummary
 * @property {string} digest
 * @property {string[]} tags its 10 most recent
 * @property {number} tag_count
 * @property {number} referrer_count signatures, SBOMs, attestations: artifacts whose subject it is
 * @property {string} media_type
 * @property {string | null} artifact_type
 * @property {number} size
 * @property {string[]} platforms
 * @property {string | null} pushed_at
 * @property {string | null} pulled_at
 * @property {boolean} protected
 * @property {string | null} [protected_by] the protecting policy: its image and tag selectors
 * @property {HelmChart | null} [helm] a Helm chart's name and versions, from its Chart.yaml
 * @property {boolean} [cached] it came from the upstream of a proxy-cache registry
 * @property {string | null} [upstream] where a cached artifact came from
 * @property {string | null} [revalidated_at] when upstream last confirmed it
 */

/** @typedef {{name: string, version: string, app_version: string | null}} HelmChart */

/**
 * "democ 0.1.0 · app 1.16.0": what a Helm chart's Chart.yaml says it is.
 * @param {HelmChart} helm
 */
export function helmChartLine(helm) {
  return h(
    "span",
    { class: "helm-chart" },
    h("span", { class: "helm-name" }, helm.name),
    " ",
    badge(helm.version, "neutral", "Chart version"),
    helm.app_version ? h("span", { class: "muted" }, ` app ${helm.app_version}`) : null,
  );
}

/**
 * @param {string[]} tags the tags at hand (an artifact row carries its 10 most recent)
 * @param {number} [limit] how many to show; a "+N" badge stands for the rest
 * @param {{total?: number, href?: string}} [more] how many tags there are in all, and where
 *   they are listed: the "+N more" then counts every tag not shown and links there
 */
export function tagList(tags, limit = 3, more = {}) {
  const total = Math.max(more.total ?? tags.length, tags.length);
  if (!total) return h("span", { class: "muted" }, "untagged");
  const shown = tags.slice(0, limit).map((tag) => badge(tag, "tag"));
  const rest = total - shown.length;
  if (rest > 0) {
    const hidden = tags.slice(limit);
    const title = hidden.length < rest ? `${hidden.join(", ")}${hidden.length ? "…" : ""} (${rest.toLocaleString()} more)` : hidden.join(", ");
    const label = more.total === undefined ? `+${rest}` : `+${rest.toLocaleString()} more`;
    shown.push(more.href ? h("a", { href: more.href, class: "badge badge-neutral more-tags", title, "aria-label": `${rest.toLocaleString()} more ${rest === 1 ? "tag" : "tags"}` }, label) : badge(label, "neutral", title));
  }
  return h("span", { class: "chips" }, shown);
}

/**
 * A row's referrers, as Harbor shows accessories under their subject: a disclosure that
 * loads them (type, size, digest) the first time it is opened.
 * @param {string} artifactsPath the REST path of the image's artifacts
 * @param {string} artifactsHref the console address of the image's artifacts
 * @param {ArtifactSummary} row
 * @param {AbortSignal} signal
 */
export function referrerDisclosure(artifactsPath, artifactsHref, row, signal) {
  if (!row.referrer_count) return h("span", { class: "muted" }, "—");
  const list = h("div", { class: "referrer-list" }, h("p", { class: "muted" }, "Loading…"));
  const details = h(
    "details",
    { class: "referrers" },
    h("summary", {}, `${row.referrer_count.toLocaleString()} ${row.referrer_count === 1 ? "referrer" : "referrers"}`),
    list,
  );
  let loaded = false;
  details.addEventListener("toggle", async () => {
    if (!details.open || loaded) return;
    loaded = true;
    try {
      /** @type {import("./api.js").Page<ArtifactSummary>} */
      const page = await api.get(`${artifactsPath}/${enc(row.digest)}/referrers`, { page_size: 100 }, { signal });
      list.replaceChildren(
        h(
          "ul",
          { class: "referrer-items" },
          page.items.map((item) =>
            h(
              "li",
              {},
              h("span", { class: "kind", title: item.artifact_type || item.media_type }, artifactKind(item.media_type, item.artifact_type)),
              " ",
              h("a", { href: `${artifactsHref}/${enc(item.digest)}`, class: "mono", title: item.digest }, shortDigest(item.digest)),
              " ",
              h("span", { class: "muted" }, formatBytes(item.size)),
            ),
          ),
        ),
        page.total > page.items.length ? h("p", { class: "muted" }, `and ${(page.total - page.items.length).toLocaleString()} more on the artifact's page`) : "",
      );
    } catch {
      loaded = false;
      list.replaceChildren(h("p", { class: "muted" }, "Could not load the referrers."));
    }
  });
  return details;
}

/** @param {string[]} platforms */
export function platformList(platforms) {
  if (!platforms.length) return h("span", { class: "muted" }, "—");
  return h("span", { class: "chips" }, platforms.map((p) => badge(p, "platform")));
}

/** @param {import("./main.js").PageContext} context */
export function render({ params, signal, setTitle, navigate, ready }) {
  const { registry, image } = params;
  const registryHref = `/registries/${enc(registry)}`;
  const imageBase = `/registries/${enc(registry)}/images/${enc(image)}`;
  const referrerCell = (/** @type {ArtifactSummary} */ row) =>
    referrerDisclosure(`/registries/${enc(registry)}/images/${enc(image)}/artifacts`, `${imageBase}/artifacts`, row, signal);
  setTitle(`${image} · ${registry}`);
  const subtitle = h("div", { class: "page-subtitle-line" }, h("code", { class: "mono" }, `${registry}/${image}`));
  const pullBox = h("div", { class: "pull-box" });

  let host = "HOST";
  /** @type {import("./registry-actions.js").Registry | null} */
  let reg = null;
  const actions = h("span", { class: "page-actions-slot" });
  const registryLoaded = api
    .get(registryHref, undefined, { signal })
    .then((/** @type {import("./registry-actions.js").Registry} */ found) => {
      reg = found;
      host = hostOf(found);
      subtitle.replaceChildren(copyable(`${host}/${registry}/${image}`, "Copy the image reference"));
    })
    .catch(() => {});

  // The pull command and Delete image only once the image is known to exist.
  function showFound() {
    if (pullBox.childElementCount) return;
    pullBox.replaceChildren(
      h("span", { class: "pull-label" }, "Pull"),
      commandBlock(`docker pull ${host}/${registry}/${image}:TAG`, "Copy the docker pull command"),
    );
    if (can(reg, "delete")) actions.replaceChildren(button("Delete image", { kind: "danger-outline", iconName: "trash", onClick: deleteImage }));
  }

  /** @param {ApiError} error a 404 (no such image) or 403 (no access to the registry) */
  function showMissing(error) {
    const forbidden = error.status === 403;
    root.replaceChildren(
      root.firstChild || "",
      h("h1", { tabindex: "-1", class: "visually-hidden" }, forbidden ? "No access to this registry" : "Image not found"),
      emptyState({
        iconName: forbidden ? "lock" : "search",
        title: forbidden ? `You may not open ${registry}.` : `${registry} has no image ${image}.`,
        body: forbidden ? "Only members of its project may see it. Ask a project admin of that project to add you." : "It may have been deleted, or never pushed.",
        actions: link(forbidden ? "/registries" : registryHref, forbidden ? "Back to registries" : `Back to ${registry}`, "btn btn-primary"),
      }),
    );
    ready?.();
  }

  const deleteImage = () =>
    confirmThen({
      title: `Delete image ${image}?`,
      message: h("p", {}, `This deletes every artifact and tag of ${registry}/${image}. Pulls of it will fail. This cannot be undone.`),
      confirmLabel: "Delete image",
      action: () => api.delete(`${registryHref}/images/${enc(image)}`),
      done: `Image ${image} deleted.`,
      then: () => navigate(registryHref),
    });

  /** @type {import("./widgets/resource-list.js").ResourceList<ArtifactSummary>} */
  const table = resourceList({
    label: `Artifacts of ${image}`,
    noun: ["artifact", "artifacts"],
    urlKey: "",
    signal,
    search: { label: "Search artifacts", placeholder: "Search by tag or digest" },
    defaultSort: "-pushed_at",
    load: async (query) => {
      await registryLoaded;
      try {
        const page = await api.get(`/registries/${enc(registry)}/images/${enc(image)}/artifacts`, query, { signal });
        showFound();
        return page;
      } catch (error) {
        if (error instanceof ApiError && (error.status === 404 || error.status === 403)) showMissing(error);
        throw error;
      }
    },
    rowKey: (row) => row.digest,
    rowLabel: (row) => shortDigest(row.digest),
    bulkRemove: {
      confirm: (rows) => ({
        title: rows.length === 1 ? "Delete this artifact?" : `Delete ${rows.length} artifacts?`,
        message: h(
          "p",
          {},
          `The selected ${rows.length === 1 ? "artifact is" : "artifacts are"} deleted from ${registry}/${image} with every tag on ${rows.length === 1 ? "it" : "them"}. This cannot be undone.`,
        ),
        items: rows.map((row) => (row.tags.length ? `${shortDigest(row.digest)} (${row.tags.join(", ")}${row.tag_count > row.tags.length ? `, +${row.tag_count - row.tags.length} more` : ""})` : shortDigest(row.digest))),
        confirmLabel: rows.length === 1 ? "Delete artifact" : `Delete ${rows.length} artifacts`,
        action: () => api.delete(`/registries/${enc(registry)}/images/${enc(image)}/artifacts`, { references: rows.map((row) => row.digest) }),
      }),
      done: (rows) => `${plural(rows.length, "artifact")} deleted.`,
      allowed: () => can(reg, "delete"),
      blocked: (row) => (row.protected ? `Protected: a tag of it is protected by ${protectionPolicyName(row.protected_by)} (see the registry's Protection tab), so it cannot be deleted` : null),
    },
    columns: [
      {
        id: "digest",
        label: "Digest",
        sort: "digest",
        className: "col-digest",
        render: (row) =>
          h(
            "span",
            { class: "digest-cell" },
            h("a", { href: `${imageBase}/artifacts/${enc(row.digest)}`, class: "row-link mono", title: row.digest }, shortDigest(row.digest)),
            copyButton(row.digest, `Copy digest ${shortDigest(row.digest)}`),
          ),
      },
      {
        id: "tags",
        label: "Tags",
        render: (row) => {
          const tags = tagList(row.tags, 3, { total: row.tag_count, href: `${imageBase}/artifacts/${enc(row.digest)}` });
          const cached = row.cached ? badge("cached", "info", `Cached from ${row.upstream}; upstream last confirmed it ${row.revalidated_at ? new Date(row.revalidated_at).toLocaleString() : "never"}`) : null;
          if (!row.protected && !cached) return tags;
          return h("span", { class: "chips" }, tags, row.protected && protectedBadge("Protected: a tag of it is protected, so it cannot be deleted"), cached);
        },
      },
      { id: "referrers", label: "Referrers", render: (row) => referrerCell(row) },
      {
        id: "type",
        label: "Media type",
        render: (row) =>
          h(
            "span",
            { class: "type-cell", title: [row.media_type, row.artifact_type].filter(Boolean).join("\n") },
            h("span", { class: isIndex(row.media_type) ? "kind kind-index" : "kind" }, artifactKind(row.media_type, row.artifact_type)),
            row.helm ? helmChartLine(row.helm) : h("code", { class: "type-raw" }, row.media_type),
          ),
      },
      { id: "size", label: "Size", sort: "size", descFirst: true, className: "num", render: (row) => formatBytes(row.size) },
      { id: "platforms", label: "Platforms", render: (row) => platformList(row.platforms) },
      { id: "pushed_at", label: "Pushed", sort: "pushed_at", descFirst: true, render: (row) => timeCell(row.pushed_at) },
      { id: "pulled_at", label: "Last pull", sort: "pulled_at", descFirst: true, render: (row) => timeCell(row.pulled_at) },
    ],
    empty: () =>
      emptyState({
        iconName: "layers",
        title: "No artifacts in this image",
        body: h("div", {}, h("p", {}, "Push a tag to add one:"), commandBlock(`docker push ${host}/${registry}/${image}:TAG`, "Copy the docker push command")),
      }),
  });

  const root = h(
    "div",
    { class: "page" },
    breadcrumbs([
      { label: "Registries", href: "/registries" },
      { label: registry, href: registryHref },
      { label: image },
    ]),
    pageHead({
      title: image,
      iconName: "layers",
      subtitle,
      actions: [actions],
    }),
    pullBox,
    h("section", { class: "card card-table", "aria-label": "Artifacts" }, table.el),
  );
  ready?.();
  return root;
}
