// One registry: its addresses and usage, then its tabs (images, members, …).

import { api, ApiError } from "./api.js";
import { clear, enc, formatBytes, formatDate, h } from "./dom.js";
import { can, deleteRegistryConfirmation, openPushCommands, registryDeleted } from "./registry-actions.js";
import { REGISTRY_TABS } from "./registry-tabs.js";
import { roleLabel } from "./tab-members.js";
import { alertBox, messageOf } from "./widgets/alert.js";
import { badge } from "./widgets/badge.js";
import { button, link } from "./widgets/buttons.js";
import { confirmThen } from "./widgets/confirm.js";
import { copyableUri } from "./widgets/copy.js";
import { breadcrumbs, facts, pageHead } from "./widgets/layout.js";
import { emptyState, loading } from "./widgets/placeholders.js";
import { tabs } from "./widgets/tabs.js";

/** @typedef {import("./registry-actions.js").Registry} Registry */

/**
 * The signed-in user's role here: their role in the registry's project, or system administrator.
 * @param {Registry} registry
 * @param {import("./main.js").Session} session
 */
function yourRole(registry, session) {
  const membership = session.me?.projects.find((m) => m.project === registry.project);
  if (membership) return roleLabel(membership.role);
  return session.me?.is_admin ? "System administrator" : "—";
}

/**
 * @param {Registry} registry
 * @param {import("./main.js").Session} session
 */
function summary(registry, session) {
  return facts([
    ["Project", badge(registry.project, "project")],
    ["Your role", h("span", { class: "your-role", title: `You may: ${registry.permissions.join(", ").replaceAll("_", " ") || "nothing"}` }, yourRole(registry, session))],
    ["Public URI", copyableUri(registry.public_uri, "Copy the public URI"), { wide: true }],
    [
      "Private URI",
      registry.private_uri
        ? copyableUri(registry.private_uri, "Copy the private URI")
        : h("span", { class: "muted" }, "Not configured"),
      { wide: true },
    ],
    ["Images", registry.image_count.toLocaleString()],
    ["Stored", formatBytes(registry.stored_bytes)],
    ["Created", h("time", { datetime: registry.created_at }, formatDate(registry.created_at))],
  ]);
}

/** @param {import("./main.js").PageContext} context */
export function render({ params, signal, setTitle, navigate, session, ready }) {
  const name = params.registry;
  const tabId = params.tab || "images";
  const base = `/registries/${enc(name)}`;
  setTitle(name);
  const crumbs = breadcrumbs([{ label: "Registries", href: "/registries" }, { label: name }]);
  const body = h("div", { class: "page" }, loading(`Loading ${name}…`));
  const root = h("div", { class: "page" }, crumbs, body);

  async function show() {
    /** @type {Registry} */
    let registry;
    try {
      registry = await api.get(`/registries/${enc(name)}`, undefined, { signal });
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 404) {
        clear(
          body,
          h("h1", { tabindex: "-1", class: "visually-hidden" }, "Registry not found"),
          emptyState({
            iconName: "search",
            title: `There is no registry named ${name}.`,
            body: "It may have been deleted, or you may not be a member of its project.",
            actions: link("/registries", "Back to registries", "btn btn-primary"),
          }),
        );
      } else if (error instanceof ApiError && error.status === 403) {
        // Trying again would not help: say why, and where to go instead.
        clear(
          body,
          h("h1", { tabindex: "-1", class: "visually-hidden" }, "No access to this registry"),
          emptyState({
            iconName: "lock",
            title: `You may not open ${name}.`,
            body: "Only members of its project may see it. Ask a project admin of that project to add you.",
            actions: link("/registries", "Back to registries", "btn btn-primary"),
          }),
        );
      } else {
        clear(body, h("h1", { tabindex: "-1" }, name), alertBox(messageOf(error), { title: "Could not load the registry.", retry: show }));
      }
      ready();
      return;
    }
    if (signal.aborted) return;
    const summaryBox = h("div", { class: "card card-summary" }, summary(registry, session));
    const refreshRegistry = async () => {
      try {
        registry = await api.get(`/registries/${enc(name)}`, undefined, { signal });
        context.registry = registry;
        clear(summaryBox, summary(registry, session));
      } catch {
        // The summary keeps its last values; the tab shows its own errors.
      }
    };
    /** @type {import("./registry-tabs.js").TabContext} */
    const context = { registry, session, signal, navigate, refreshRegistry };
    const visibleTabs = REGISTRY_TABS.filter((tab) => !tab.visible || tab.visible(context));
    const active = visibleTabs.find((tab) => tab.id === tabId);
    const panel = active
      ? active.render(context)
      : emptyState({ iconName: "search", title: `This registry has no “${tabId}” tab.`, actions: link(base, "Show its images", "btn btn-secondary") });
    if (active && active.id !== "images") setTitle(`${active.label} · ${name}`);
    clear(
      body,
      pageHead({
        title: name,
        iconName: "box",
        subtitle: registry.upstream
          ? h("span", {}, "Proxy cache of ", h("code", { class: "mono" }, registry.upstream.url + (registry.upstream.namespace ? `/${registry.upstream.namespace}` : "")), " in project ", h("strong", {}, registry.project), ` · tags revalidated after ${registry.upstream.revalidate_seconds.toLocaleString()} s · pushes refused`)
          : h("span", {}, "Registry in project ", h("strong", {}, registry.project)),
        actions: [
          button("Push commands", { iconName: "terminal", onClick: () => openPushCommands(registry) }),
          can(registry, "delete") &&
            button("Delete registry", {
              kind: "danger-outline",
              iconName: "trash",
              onClick: () => confirmThen({ ...deleteRegistryConfirmation(registry), done: registryDeleted(registry), then: () => navigate("/registries") }),
            }),
        ],
      }),
      summaryBox,
      tabs({
        label: `${name} sections`,
        active: active ? active.id : null,
        items: visibleTabs.map((tab) => ({ id: tab.id, label: tab.label, iconName: tab.iconName, href: tab.id === "images" ? base : `${base}/${tab.id}` })),
        panel,
      }),
    );
    ready();
  }

  show();
  return root;
}
