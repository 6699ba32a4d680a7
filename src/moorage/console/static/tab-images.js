// Registry tab: the registry's images.

import { api } from "./api.js";
import { enc, h, plural, timeCell } from "./dom.js";
import { can, pushSteps } from "./registry-actions.js";
import { emptyState } from "./widgets/placeholders.js";
import { pagedSource, resourceList } from "./widgets/resource-list.js";

/**
 * @typedef {object} ImageSummary
 * @property {string} name
 * @property {number} artifact_count
 * @property {number} tag_count
 * @property {string | null} pushed_at
 * @property {string | null} pulled_at
 * @property {string} created_at
 */

/** @param {import("./registry-tabs.js").TabContext} context */
function render({ registry, signal, refreshRegistry }) {
  const base = `/registries/${enc(registry.name)}`;
  /** @type {import("./widgets/resource-list.js").ResourceList<ImageSummary>} */
  const table = resourceList({
    label: `Images in ${registry.name}`,
    noun: ["image", "images"],
    urlKey: "",
    signal,
    search: { label: "Search images", placeholder: "Search by name" },
    defaultSort: "name",
    load: pagedSource(`${base}/images`, signal),
    rowKey: (row) => row.name,
    rowLabel: (row) => row.name,
    bulkRemove: {
      confirm: (rows) => ({
        title: rows.length === 1 ? `Delete image ${rows[0].name}?` : `Delete ${rows.length} images?`,
        message: h(
          "p",
          {},
          `This deletes every artifact and tag of ${rows.length === 1 ? "this image" : "these images"} in ${registry.name}. Pulls of them will fail. This cannot be undone.`,
        ),
        items: rows.map((row) => `${registry.name}/${row.name}`),
        confirmLabel: rows.length === 1 ? "Delete image" : `Delete ${rows.length} images`,
        action: () => api.delete(`${base}/images`, { names: rows.map((row) => row.name) }),
      }),
      done: (rows) => `${plural(rows.length, "image")} deleted.`,
      allowed: () => can(registry, "delete"),
    },
    onChange: refreshRegistry,
    columns: [
      {
        id: "name",
        label: "Name",
        sort: "name",
        className: "col-name",
        render: (row) => h("a", { href: `${base}/images/${enc(row.name)}`, class: "row-link" }, row.name),
      },
      { id: "artifact_count", label: "Artifacts", className: "num", render: (row) => row.artifact_count.toLocaleString() },
      { id: "tag_count", label: "Tags", className: "num", render: (row) => row.tag_count.toLocaleString() },
      { id: "pushed_at", label: "Last push", render: (row) => timeCell(row.pushed_at) },
      { id: "pulled_at", label: "Last pull", render: (row) => timeCell(row.pulled_at) },
      { id: "created_at", label: "Created", sort: "created_at", descFirst: true, render: (row) => timeCell(row.created_at, { absolute: true }) },
    ],
    empty: () =>
      can(registry, "push")
        ? emptyState({ iconName: "layers", title: "No images yet — push one with:", body: pushSteps(registry) })
        : emptyState({ iconName: "layers", title: "No images yet", body: "Members who may push will add them here." }),
  });
  return table.el;
}

export default { id: "images", label: "Images", iconName: "layers", render };
