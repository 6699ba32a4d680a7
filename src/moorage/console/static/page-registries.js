// The registry list: every registry the signed-in user may see.

import { enc, formatBytes, h, timeCell } from "./dom.js";
import { can, deleteRegistryConfirmation, mayDeploy, openCreateRegistry, openPushCommands, registryDeleted } from "./registry-actions.js";
import { badge } from "./widgets/badge.js";
import { button, iconButton } from "./widgets/buttons.js";
import { copyableUri } from "./widgets/copy.js";
import { breadcrumbs, pageHead } from "./widgets/layout.js";
import { emptyState } from "./widgets/placeholders.js";
import { pagedSource, resourceList } from "./widgets/resource-list.js";

/** @typedef {import("./registry-actions.js").Registry} Registry */

/** @param {import("./main.js").PageContext} context */
export function render({ signal, setTitle, session }) {
  setTitle("Registries");
  // Only for those who may create one in some project; nobody else sees the button.
  const createButton = mayDeploy(session, "create_registry") ? button("Create registry", { kind: "primary", iconName: "plus" }) : undefined;

  /** @type {import("./widgets/resource-list.js").ResourceList<Registry>} */
  const table = resourceList({
    label: "Registries",
    noun: ["registry", "registries"],
    urlKey: "",
    signal,
    search: { label: "Search registries", placeholder: "Search by name" },
    defaultSort: "name",
    load: pagedSource("/registries", signal),
    rowKey: (row) => row.name,
    toolbar: createButton ? [createButton] : [],
    form: {
      open: openCreateRegistry,
      saved: (created) => `Registry ${created.name} created.`,
      createButton,
    },
    name: (row) => `registry ${row.name}`,
    rowActions: (row) => [iconButton("terminal", `Push commands for ${row.name}`, { onClick: () => openPushCommands(row) })],
    remove: { confirm: deleteRegistryConfirmation, done: registryDeleted, allowed: (row) => can(row, "delete") },
    columns: [
      {
        id: "name",
        label: "Name",
        sort: "name",
        className: "col-name",
        render: (row) => [
          h("a", { href: `/registries/${enc(row.name)}`, class: "row-link" }, row.name),
          row.kind === "proxy_cache" && row.upstream ? [" ", badge("proxy cache", "info", `A pull-through cache of ${row.upstream.url}`)] : null,
        ],
      },
      { id: "project", label: "Project", render: (row) => badge(row.project, "project") },
      {
        id: "public_uri",
        label: "Public URI",
        className: "col-uri",
        render: (row) => copyableUri(row.public_uri, `Copy the public URI of ${row.name}`),
      },
      {
        id: "private_uri",
        label: "Private URI",
        className: "col-uri",
        render: (row) =>
          row.private_uri
            ? copyableUri(row.private_uri, `Copy the private URI of ${row.name}`)
            : h("span", { class: "muted", title: "This server has no private endpoint configured" }, "—"),
      },
      { id: "image_count", label: "Images", className: "num", render: (row) => row.image_count.toLocaleString() },
      { id: "stored_bytes", label: "Stored", sort: "stored_bytes", descFirst: true, className: "num", render: (row) => formatBytes(row.stored_bytes) },
      { id: "created_at", label: "Created", sort: "created_at", descFirst: true, render: (row) => timeCell(row.created_at, { absolute: true }) },
    ],
    empty: () =>
      emptyState({
        iconName: "box",
        title: "No registries yet",
        body: "A registry is a namespace for your images, with its own push and pull address. Create one to start pushing.",
      }),
  });

  return h(
    "div",
    { class: "page" },
    breadcrumbs([{ label: "Registries" }]),
    pageHead({
      title: "Registries",
      iconName: "box",
      subtitle: "Registries hold your container images and other OCI artifacts. Push and pull with docker, podman, skopeo or any OCI client.",
    }),
    h("section", { class: "card card-table", "aria-label": "Registry list" }, table.el),
  );
}
