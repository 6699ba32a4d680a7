// One artifact: summary, pull command, tags, layers or platforms, annotations, raw manifest.

import { api, ApiError } from "./api.js";
import { artifactKind, clear, enc, formatBytes, formatDate, h, isIndex, plural, shortDigest, timeCell } from "./dom.js";
import { platformList, tagList } from "./page-image.js";
import { protectedBadge, protectionPolicyName } from "./policies.js";
import { can, hostOf } from "./registry-actions.js";
import { alertBox, messageOf } from "./widgets/alert.js";
import { badge } from "./widgets/badge.js";
import { button, link } from "./widgets/buttons.js";
import { confirmAction, confirmThen } from "./widgets/confirm.js";
import { commandBlock, copyButton, copyable } from "./widgets/copy.js";
import { openDialog } from "./widgets/dialog.js";
import { field, quietError, setFieldError } from "./widgets/form.js";
import { breadcrumbs, card, facts, pageHead } from "./widgets/layout.js";
import { emptyState, loading } from "./widgets/placeholders.js";
import { pagedSource, resourceList } from "./widgets/resource-list.js";
import { staticTable } from "./widgets/static-table.js";

/**
 * @typedef {object} Descriptor an entry of an index's manifest list
 * @property {string} digest
 * @property {string} mediaType
 * @property {string} [artifactType]
 * @property {number} size
 * @property {{os?: string, architecture?: string, variant?: string}} [platform]
 */

/**
 * One artifact, with its contents.
 * @typedef {object} ArtifactDetail
 * @property {string} digest
 * @property {string[]} tags its 10 most recent
 * @property {number} tag_count
 * @property {number} referrer_count
 * @property {string} media_type
 * @property {string | null} artifact_type
 * @property {number} size
 * @property {string[]} platforms
 * @property {string} pushed_at
 * @property {string | null} pulled_at
 * @property {string | null} config_digest
 * @property {string | null} subject_digest
 * @property {Descriptor[]} children
 * @property {Array<{digest: string, media_type: string, size: number}>} layers
 * @property {Record<string, string> | null} annotations
 * @property {unknown} manifest
 * @property {boolean} protected a tag of it is protected: it cannot be deleted
 * @property {string | null} [protected_by] the protecting policy: its image and tag selectors
 * @property {import("./page-image.js").HelmChart | null} [helm] a Helm chart's name and versions
 */

/** @typedef {{name: string, protected: boolean, protected_by?: string | null, pushed_at: string | null, pulled_at: string | null}} Tag */

const TAG_RULE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * "its tags (a, b)" or "its 12,000 tags (a, b, … and 11,990 more)", for the delete dialog.
 * @param {ArtifactDetail} detail
 */
function tagsNamed(detail) {
  if (!detail.tag_count) return "no tags";
  const rest = detail.tag_count - detail.tags.length;
  if (rest <= 0) return `its tags (${detail.tags.join(", ")})`;
  return `its ${detail.tag_count.toLocaleString()} tags (${detail.tags.join(", ")} and ${rest.toLocaleString()} more)`;
}

/** @param {Descriptor} child */
function platformOf(child) {
  const p = child.platform || {};
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/") || "—";
}

/** @param {import("./main.js").PageContext} context */
export function render({ params, signal, setTitle, navigate, ready }) {
  const { registry, image } = params;
  let reference = params.reference;
  const registryHref = `/registries/${enc(registry)}`;
  const imageHref = `${registryHref}/images/${enc(image)}`;
  const apiBase = `/registries/${enc(registry)}/images/${enc(image)}/artifacts`;
  setTitle(`${reference.includes(":") ? shortDigest(reference) : reference} · ${image}`);
  const crumbs = h("div", {});
  const body = h("div", { class: "page" }, loading("Loading the artifact…"));
  const root = h("div", { class: "page" }, crumbs, body);
  const setCrumbs = (/** @type {string} */ label) =>
    clear(
      crumbs,
      breadcrumbs([
        { label: "Registries", href: "/registries" },
        { label: registry, href: registryHref },
        { label: image, href: imageHref },
        { label },
      ]),
    );
  setCrumbs(reference.startsWith("sha256:") ? shortDigest(reference) : reference);

  async function show() {
    /** @type {ArtifactDetail} */
    let detail;
    /** @type {string | null} */
    let host = null;
    /** @type {import("./registry-actions.js").Registry | null} */
    let reg = null;
    try {
      const [found, registryFound] = await Promise.all([
        api.get(`${apiBase}/${enc(reference)}`, undefined, { signal }),
        api.get(registryHref, undefined, { signal }).catch(() => null),
      ]);
      detail = found;
      reg = registryFound;
      host = reg ? hostOf(reg) : location.host;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 404) {
        clear(
          body,
          h("h1", { tabindex: "-1", class: "visually-hidden" }, "Artifact not found"),
          emptyState({
            iconName: "search",
            title: `${image} has no artifact ${reference.startsWith("sha256:") ? shortDigest(reference) : reference}.`,
            body: "It may have been deleted, or the tag moved to another artifact.",
            actions: link(imageHref, `Back to ${image}`, "btn btn-primary"),
          }),
        );
      } else if (error instanceof ApiError && error.status === 403) {
        clear(
          body,
          h("h1", { tabindex: "-1", class: "visually-hidden" }, "No access to this registry"),
          emptyState({
            iconName: "lock",
            title: `You may not open ${registry}.`,
            body: "Only members of its project may see it. Ask a project admin of that project to add you.",
            actions: link("/registries", "Back to registries", "btn btn-primary"),
          }),
        );
      } else {
        clear(body, h("h1", { tabindex: "-1" }, "Artifact"), alertBox(messageOf(error), { title: "Could not load the artifact.", retry: show }));
      }
      ready?.();
      return;
    }
    if (signal.aborted) return;
    if (reference !== detail.digest) {
      // Opened by tag: keep the address stable even if the tag moves or is deleted.
      reference = detail.digest;
      history.replaceState(history.state, "", `${imageHref}/artifacts/${enc(detail.digest)}${location.search}`);
    }
    setCrumbs(shortDigest(detail.digest));
    setTitle(`${shortDigest(detail.digest)} · ${image}`);
    const digestRef = `${host}/${registry}/${image}@${detail.digest}`;
    const headTags = h("span", { class: "head-tags" }, tagList(detail.tags, 6, { total: detail.tag_count }));

    const refreshSummary = async () => {
      try {
        /** @type {ArtifactDetail} */
        const fresh = await api.get(`${apiBase}/${enc(detail.digest)}`, undefined, { signal });
        headTags.replaceChildren(tagList(fresh.tags, 6, { total: fresh.tag_count }));
      } catch {
        // the tags table shows the current tags either way
      }
    };

    const deleteArtifact = () =>
      confirmThen({
        title: "Delete this artifact?",
        message: h(
          "p",
          {},
          `${registry}/${image}@${shortDigest(detail.digest)} is deleted with ${tagsNamed(detail)}. Pulls of it will fail. This cannot be undone.`,
        ),
        items: [detail.digest],
        confirmLabel: "Delete artifact",
        action: () => api.delete(`${apiBase}/${enc(detail.digest)}`),
        done: `Artifact ${shortDigest(detail.digest)} deleted.`,
        then: () => navigate(imageHref),
      });

    // A protected artifact's delete is disabled with the reason, not refused after confirming.
    const deleteArtifactButton = () => {
      if (!detail.protected) return button("Delete artifact", { kind: "danger-outline", iconName: "trash", onClick: deleteArtifact });
      const reason = `Protected: a tag of it is protected by ${protectionPolicyName(detail.protected_by)} (see the registry's Protection tab), so it cannot be deleted`;
      const btn = button("Delete artifact", { kind: "danger-outline", iconName: "trash", disabled: true, title: reason });
      btn.setAttribute("aria-description", reason);
      return h("span", { class: "blocked-action", title: reason }, btn);
    };

    const summary = card(
      "Summary",
      [
        facts([
          ["Digest", copyable(detail.digest, "Copy the digest", { className: "copyable-wrap" }), { wide: true }],
          ["Type", h("span", { title: detail.media_type }, artifactKind(detail.media_type, detail.artifact_type))],
          ["Media type", h("code", { class: "mono small" }, detail.media_type), { wide: true }],
          detail.artifact_type && ["Artifact type", h("code", { class: "mono small" }, detail.artifact_type), { wide: true }],
          ["Size", formatBytes(detail.size)],
          // A Helm chart has no platforms: what its Chart.yaml says instead.
          detail.helm && ["Chart name", detail.helm.name],
          detail.helm && ["Chart version", detail.helm.version],
          detail.helm && ["App version", detail.helm.app_version ?? h("span", { class: "muted" }, "—")],
          !detail.helm && ["Platforms", platformList(detail.platforms)],
          ["Pushed", h("time", { datetime: detail.pushed_at }, formatDate(detail.pushed_at))],
          ["Last pull", timeCell(detail.pulled_at)],
          detail.config_digest && ["Config", copyable(detail.config_digest, "Copy the config digest", { display: shortDigest(detail.config_digest) })],
          detail.subject_digest && [
            "Subject",
            h("a", { href: `${imageHref}/artifacts/${enc(detail.subject_digest)}`, class: "mono" }, shortDigest(detail.subject_digest)),
          ],
        ]),
        detail.helm
          ? h("div", { class: "pull-box" }, h("span", { class: "pull-label" }, "Pull the chart"), commandBlock(`helm pull oci://${host}/${registry}/${image} --version ${detail.helm.version}`, "Copy the helm pull command"))
          : h("div", { class: "pull-box" }, h("span", { class: "pull-label" }, "Pull by digest"), commandBlock(`docker pull ${digestRef}`, "Copy the docker pull command")),
      ],
      { id: "summary-heading" },
    );

    // Tags ------------------------------------------------------------------------------------
    function addTag() {
      const name = field({
        label: "Tag name",
        name: "name",
        required: true,
        requiredMessage: "Enter a tag name.",
        hint: "Letters, digits, '_', '.' and '-', up to 128 characters. A tag already on another artifact of this image moves here once you confirm.",
        placeholder: "v1.0",
        spellcheck: false,
      });
      /**
       * Adds the tag; one that points at another artifact is moved here only once the user
       * confirms (the API refuses with 409 and that artifact's digest until asked to move).
       * @param {string} tagName
       * @returns {Promise<any>} the tag as the API answers it (the form's `saved` reads it)
       */
      async function addOrMove(tagName) {
        const path = `${apiBase}/${enc(detail.digest)}/tags`;
        try {
          return await api.post(path, { name: tagName });
        } catch (error) {
          const elsewhere = error instanceof ApiError && error.status === 409 ? error.problem.digest : undefined;
          if (!elsewhere) throw error;
          /** @type {Tag | null} */
          let moved = null;
          const confirmed = await confirmAction({
            title: `Move tag ${tagName}?`,
            message: h("p", {}, `Tag ${tagName} points at `, h("code", { class: "mono" }, elsewhere), " — move it here?"),
            confirmLabel: "Move tag",
            danger: false,
            action: async () => {
              moved = await api.post(path, { name: tagName, move: true });
            },
          });
          if (!confirmed || !moved) {
            setFieldError(name.input, `Tag ${tagName} still points at ${shortDigest(elsewhere)}.`);
            name.input.focus();
            throw quietError("tag not moved");
          }
          return moved;
        }
      }
      return openDialog({
        title: "Add tag",
        description: h("span", {}, "Point a new tag at ", h("code", { class: "mono" }, shortDigest(detail.digest)), "."),
        body: name.el,
        submitLabel: "Add tag",
        onSubmit: ({ values }) => {
          if (!TAG_RULE.test(values.name)) {
            setFieldError(name.input, "A tag starts with a letter, digit or '_' and has only letters, digits, '_', '.' and '-'.");
            name.input.focus();
            return Promise.reject(quietError("invalid tag"));
          }
          return addOrMove(values.name);
        },
      });
    }

    const mayTag = can(reg, "push");
    const addTagButton = button("Add tag", { kind: "primary", iconName: "plus", size: "sm" });
    /** @type {import("./widgets/resource-list.js").ResourceList<Tag>} */
    const tags = resourceList({
      label: "Tags",
      noun: ["tag", "tags"],
      signal,
      compact: true,
      pageSize: 10,
      urlKey: "tags", // the search and page stay in the address, as in the other lists
      search: { label: "Search tags", placeholder: "Search tags" },
      defaultSort: "name",
      load: pagedSource(`${apiBase}/${enc(detail.digest)}/tags`, signal),
      rowKey: (row) => row.name,
      rowLabel: (row) => `tag ${row.name}`,
      toolbar: mayTag ? [addTagButton] : [],
      manage: mayTag || can(reg, "delete"),
      form: { open: addTag, saved: (created) => `Tag ${created.name} added.`, createButton: mayTag ? addTagButton : undefined },
      name: (row) => `tag ${row.name}`,
      remove: {
        confirm: (tag) => ({
          title: `Delete tag ${tag.name}?`,
          message: h("p", {}, `${registry}/${image}:${tag.name} stops resolving. The artifact stays and can still be pulled by digest.`),
          confirmLabel: "Delete tag",
          action: () => api.delete(`${apiBase}/${enc(detail.digest)}/tags/${enc(tag.name)}`),
        }),
        done: (tag) => `Tag ${tag.name} deleted.`,
        allowed: () => can(reg, "delete"),
        blocked: (tag) => (tag.protected ? `Tag ${tag.name} is protected by ${protectionPolicyName(tag.protected_by)} (see the registry's Protection tab): it cannot be deleted` : null),
      },
      // Several tags at once (the artifact stays): all or none, as the API deletes them.
      bulkRemove: {
        label: "Delete tags",
        confirm: (rows) => ({
          title: rows.length === 1 ? `Delete tag ${rows[0].name}?` : `Delete ${rows.length} tags?`,
          message: h("p", {}, `These tags of ${registry}/${image} stop resolving. The artifact stays and can still be pulled by digest.`),
          items: rows.map((row) => `${registry}/${image}:${row.name}`),
          confirmLabel: rows.length === 1 ? "Delete tag" : `Delete ${rows.length} tags`,
          action: () => api.delete(`/registries/${enc(registry)}/images/${enc(image)}/tags`, { names: rows.map((row) => row.name) }),
        }),
        done: (rows) => `${plural(rows.length, "tag")} deleted.`,
        allowed: () => can(reg, "delete"),
        blocked: (tag) => (tag.protected ? `Protected by ${protectionPolicyName(tag.protected_by)} (see the registry's Protection tab): it cannot be deleted` : null),
      },
      onChange: refreshSummary,
      columns: [
        { id: "name", label: "Tag", sort: "name", className: "col-name", render: (row) => h("span", { class: "tag-cell" }, badge(row.name, "tag"), row.protected && protectedBadge("Protected: it cannot be moved, overwritten or deleted")) },
        {
          id: "pull",
          label: "Pull command",
          className: "col-command",
          render: (row) => copyable(`docker pull ${host}/${registry}/${image}:${row.name}`, `Copy the pull command for ${row.name}`),
        },
        { id: "pushed_at", label: "Pushed", sort: "pushed_at", descFirst: true, render: (row) => timeCell(row.pushed_at) },
        { id: "pulled_at", label: "Last pull", sort: "pulled_at", descFirst: true, render: (row) => timeCell(row.pulled_at) },
      ],
      empty: () =>
        emptyState({
          iconName: "tag",
          title: "No tags",
          body: "This artifact can only be pulled by digest. Add a tag to give it a name.",
        }),
    });

    // Contents: an index's platforms, or a manifest's layers ----------------------------------
    let contents;
    if (isIndex(detail.media_type) || detail.children.length) {
      contents = card(
        "Platforms",
        staticTable({
          label: "Platforms",
          rows: detail.children,
          columns: [
            { label: "Platform", render: (child) => badge(platformOf(child), "platform") },
            {
              label: "Digest",
              className: "col-digest",
              render: (child) =>
                h(
                  "span",
                  { class: "digest-cell" },
                  h("a", { href: `${imageHref}/artifacts/${enc(child.digest)}`, class: "mono", title: child.digest }, shortDigest(child.digest)),
                  copyButton(child.digest, `Copy digest ${shortDigest(child.digest)}`),
                ),
            },
            { label: "Type", render: (child) => h("span", { title: child.mediaType }, artifactKind(child.mediaType, child.artifactType)) },
            { label: "Manifest size", className: "num", render: (child) => formatBytes(child.size) },
          ],
          empty: () => emptyState({ iconName: "layers", title: "This index lists no manifests." }),
        }),
        { description: "The images this index points to; clients pick the one for their platform." },
      );
    } else {
      const total = detail.layers.reduce((sum, layer) => sum + layer.size, 0);
      contents = card(
        "Layers",
        staticTable({
          label: "Layers",
          rows: detail.layers,
          columns: [
            { label: "#", className: "num col-index", render: (_, i) => String(i + 1) },
            {
              label: "Digest",
              className: "col-digest",
              render: (layer) => h("span", { class: "digest-cell" }, h("code", { class: "mono", title: layer.digest }, shortDigest(layer.digest)), copyButton(layer.digest, `Copy layer digest ${shortDigest(layer.digest)}`)),
            },
            { label: "Media type", render: (layer) => h("code", { class: "mono small" }, layer.media_type) },
            { label: "Size", className: "num", render: (layer) => formatBytes(layer.size) },
          ],
          footer: h("tr", {}, h("td", { colspan: "3", class: "table-total" }, `${detail.layers.length} ${detail.layers.length === 1 ? "layer" : "layers"}`), h("td", { class: "num table-total" }, formatBytes(total))),
          empty: () => emptyState({ iconName: "layers", title: "This artifact has no layers." }),
        }),
      );
    }

    // Referrers: signatures, SBOMs and attestations whose subject this is (as Harbor shows accessories).
    /** @type {import("./widgets/resource-list.js").ResourceList<import("./page-image.js").ArtifactSummary>} */
    const referrers = resourceList({
      label: "Referrers",
      noun: ["referrer", "referrers"],
      signal,
      compact: true,
      pageSize: 10,
      urlKey: null,
      load: pagedSource(`${apiBase}/${enc(detail.digest)}/referrers`, signal),
      rowKey: (row) => row.digest,
      columns: [
        {
          id: "type",
          label: "Type",
          render: (row) => h("span", { class: "kind", title: [row.media_type, row.artifact_type].filter(Boolean).join("\n") }, artifactKind(row.media_type, row.artifact_type)),
        },
        { id: "artifact_type", label: "Artifact type", render: (row) => h("code", { class: "mono small" }, row.artifact_type || row.media_type) },
        {
          id: "digest",
          label: "Digest",
          className: "col-digest",
          render: (row) =>
            h(
              "span",
              { class: "digest-cell" },
              h("a", { href: `${imageHref}/artifacts/${enc(row.digest)}`, class: "mono", title: row.digest }, shortDigest(row.digest)),
              copyButton(row.digest, `Copy digest ${shortDigest(row.digest)}`),
            ),
        },
        { id: "size", label: "Size", className: "num", render: (row) => formatBytes(row.size) },
        { id: "pushed_at", label: "Pushed", render: (row) => timeCell(row.pushed_at) },
      ],
      empty: () => h("p", { class: "muted card-empty" }, "Nothing refers to this artifact: no signatures, SBOMs or attestations."),
    });

    const annotationRows = Object.entries(detail.annotations || {});
    const annotations = card(
      "Annotations",
      staticTable({
        label: "Annotations",
        rows: annotationRows,
        columns: [
          { label: "Key", className: "col-key", render: ([key]) => h("code", { class: "mono small" }, key) },
          { label: "Value", className: "col-value", render: ([, value]) => value },
        ],
        empty: () => h("p", { class: "muted card-empty" }, "No annotations."),
      }),
    );

    const manifestText = JSON.stringify(detail.manifest, null, 2);
    const manifest = card(
      "Manifest",
      h(
        "details",
        { class: "manifest" },
        h("summary", {}, "Show the raw manifest", h("span", { class: "muted" }, ` (${formatBytes(new Blob([manifestText]).size)})`)),
        h("pre", { class: "code-block", tabindex: "0", "aria-label": "Raw manifest" }, h("code", {}, manifestText)),
      ),
      { actions: copyButton(manifestText, "Copy the raw manifest") },
    );

    clear(
      body,
      pageHead({
        title: h("span", { class: "mono" }, shortDigest(detail.digest)),
        iconName: isIndex(detail.media_type) ? "layers" : "box",
        subtitle: h("span", { class: "head-meta" }, h("span", { class: "kind" }, artifactKind(detail.media_type, detail.artifact_type)), h("span", { class: "dot", "aria-hidden": "true" }, "·"), `${registry}/${image}`, headTags),
        actions: [can(reg, "delete") && deleteArtifactButton()],
      }),
      h("div", { class: "artifact-grid" }, summary, card("Tags", tags.el, { id: "tags-heading" }), contents, card("Referrers", referrers.el, { id: "referrers-heading", description: "Signatures, SBOMs and attestations whose subject is this artifact." }), annotations, manifest),
    );
    ready?.();
  }

  show();
  return root;
}
