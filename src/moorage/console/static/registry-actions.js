// Dialogs about one registry, shared by the registry list and the registry page.

import { api } from "./api.js";
import { enc, h, plural } from "./dom.js";
import { commandBlock } from "./widgets/copy.js";
import { openDialog } from "./widgets/dialog.js";
import { checkField, field, quietError, setFieldError, textField } from "./widgets/form.js";

/**
 * A registry as the API shows it.
 * @typedef {object} Registry
 * @property {string} name
 * @property {string} project
 * @property {string} public_uri HOST/REGISTRY
 * @property {string | null} private_uri
 * @property {number} image_count
 * @property {number | null} stored_bytes
 * @property {string} created_at
 * @property {string} docker_login
 * @property {string} docker_push_example commands joined with " && "
 * @property {string[]} permissions what the signed-in user may do here: pull, push, delete, manage_policies, manage_members, replicate
 * @property {"local" | "proxy_cache"} [kind] proxy_cache: a pull-through cache of `upstream`
 * @property {Upstream | null} [upstream]
 */

/**
 * The upstream of a proxy-cache registry; the password never, only whether one is stored.
 * @typedef {object} Upstream
 * @property {string} url
 * @property {string} namespace
 * @property {string | null} username
 * @property {boolean} has_password
 * @property {boolean} verify_tls
 * @property {number} revalidate_seconds
 */

/** @typedef {import("./widgets/confirm.js").ConfirmOptions} ConfirmOptions */

const NAME_RULE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/**
 * The registry's host, from its public URI (HOST/REGISTRY).
 * @param {Registry} registry
 */
export function hostOf(registry) {
  const uri = registry.public_uri || "";
  return uri.endsWith(`/${registry.name}`) ? uri.slice(0, -registry.name.length - 1) : uri.split("/")[0];
}

/**
 * Whether the signed-in user may do `permission` in the registry, as the API says.
 * @param {Registry | null | undefined} registry
 * @param {string} permission
 */
export function can(registry, permission) {
  return Boolean(registry?.permissions?.includes(permission));
}

/**
 * Whether the signed-in user may do `permission` outside any one registry (create_registry,
 * manage_projects, manage_users, gc), as /users/me says.
 * @param {import("./main.js").Session} session
 * @param {string} permission
 */
export function mayDeploy(session, permission) {
  return Boolean(session.me?.permissions?.includes(permission));
}

/**
 * The private endpoint's host, from the private URI (HOST/REGISTRY); null when none is set.
 * @param {Registry} registry
 */
export function privateHostOf(registry) {
  const uri = registry.private_uri;
  if (!uri) return null;
  return uri.endsWith(`/${registry.name}`) ? uri.slice(0, -registry.name.length - 1) : uri.split("/")[0];
}

/**
 * The login and push commands for one host of the registry.
 * @param {Registry} registry
 * @param {string} host
 */
function commandsFor(registry, host) {
  const target = `${host}/${registry.name}/IMAGE:TAG`;
  return { login: `docker login ${host}`, push: [`docker tag IMAGE ${target}`, `docker push ${target}`] };
}

/**
 * The steps to push, through the public host (the API's own commands) or the private one.
 * @param {Registry} registry
 * @param {{privateHost?: string}} [options]
 */
export function pushSteps(registry, { privateHost } = {}) {
  const commands = privateHost
    ? commandsFor(registry, privateHost)
    : { login: registry.docker_login, push: registry.docker_push_example.split(" && ") };
  const where = privateHost ? " (private endpoint)" : "";
  return h(
    "ol",
    { class: "steps" },
    h(
      "li",
      {},
      h("p", { class: "step-title" }, "Sign in to the registry host"),
      commandBlock(commands.login, `Copy the docker login command for ${registry.name}${where}`),
      h("p", { class: "step-hint" }, "Use your user name and password, or an access key ID and its secret (see Access keys)."),
    ),
    h(
      "li",
      {},
      h("p", { class: "step-title" }, "Tag a local image and push it"),
      commands.push.map((command) => commandBlock(command, `Copy the ${command.split(" ").slice(0, 2).join(" ")} command for ${registry.name}${where}`)),
      h("p", { class: "step-hint" }, "Replace IMAGE with the local image name and TAG with a version, for example app:1.0."),
    ),
  );
}

/** @param {Registry} registry */
export function openPushCommands(registry) {
  const privateHost = privateHostOf(registry);
  // Where a private endpoint is set, both ways in: the public host, and the private one
  // (for clients on the private network).
  const body = privateHost
    ? [
        h("section", { class: "push-variant", "aria-label": "Public endpoint" }, h("h3", { class: "push-variant-title" }, "Public endpoint"), pushSteps(registry)),
        h(
          "section",
          { class: "push-variant", "aria-label": "Private endpoint" },
          h("h3", { class: "push-variant-title" }, "Private endpoint"),
          h("p", { class: "step-hint" }, "From the private network, push through ", h("code", { class: "mono" }, registry.private_uri), " instead:"),
          pushSteps(registry, { privateHost }),
        ),
      ]
    : pushSteps(registry);
  return openDialog({
    title: `Push to ${registry.name}`,
    description: h("span", {}, "Images pushed here are stored as ", h("code", { class: "mono" }, `${registry.public_uri}/IMAGE:TAG`), "."),
    body,
    submitLabel: "Done",
    cancelLabel: null,
    wide: true,
  });
}

/**
 * The create dialog; resolves with the new registry, or null when cancelled.
 * @returns {Promise<unknown>}
 */
export function openCreateRegistry() {
  const name = field({
    label: "Name",
    name: "name",
    required: true,
    requiredMessage: "Enter a name for the registry.",
    hint: "Lowercase letters and digits, separated by single '-', '_' or '.'. It becomes part of every image reference.",
    placeholder: "team-images",
    spellcheck: false,
  });
  const project = field({
    label: "Project",
    name: "project",
    options: [{ value: "", label: "Loading projects…" }],
    required: true,
    requiredMessage: "Choose a project.",
    hint: "The project's members may use the registry.",
  });
  project.input.disabled = true;
  api
    .get("/projects", { page_size: 100 })
    .then((/** @type {import("./api.js").Page<{name: string}>} */ page) => {
      project.input.replaceChildren(...page.items.map((p) => h("option", { value: p.name }, p.name)));
      project.input.value = page.items.some((p) => p.name === "default") ? "default" : page.items[0]?.name || "";
      project.input.disabled = false;
      if (!page.items.length) setFieldError(project.input, "You are not a member of any project yet; ask an administrator to add you.");
    })
    .catch((error) => {
      project.input.replaceChildren(h("option", { value: "" }, "Unavailable"));
      setFieldError(project.input, `Could not load projects: ${error.detail || error.message}`);
    });

  const proxy = proxyCacheFields();

  return openDialog({
    title: "Create registry",
    body: [name.el, project.el, proxy.el],
    submitLabel: "Create",
    onSubmit: async ({ values }) => {
      if (!NAME_RULE.test(values.name)) {
        setFieldError(name.input, "Use lowercase letters and digits, separated by single '-', '_' or '.'.");
        name.input.focus();
        throw quietError("Fix the name and try again.");
      }
      if (!values.project) {
        setFieldError(project.input, "Choose a project.");
        throw quietError("Choose a project.");
      }
      const proxyCache = proxy.value(values);
      return api.post("/registries", proxyCache ? { name: values.name, project: values.project, proxy_cache: proxyCache } : { name: values.name, project: values.project });
    },
  });
}

/**
 * The create dialog's proxy-cache switch and the upstream fields it shows; `value` is the
 * API's `proxy_cache` body, or null while the switch is off.
 */
function proxyCacheFields() {
  const toggle = h(
    "button",
    { type: "button", role: "switch", class: "switch", "aria-checked": "false", "aria-label": "Proxy cache", "aria-controls": "proxy-cache-fields" },
    h("span", { class: "switch-track", "aria-hidden": "true" }, h("span", { class: "switch-thumb" })),
    h("span", { class: "switch-text" }, "Proxy cache"),
  );
  const url = textField({ label: "Upstream URL", name: "proxy_cache_url", mono: true, spellcheck: false, placeholder: "https://registry-1.docker.io", hint: "The registry to pull through: Docker Hub, a Harbor, another moorage, any OCI registry." });
  const namespace = textField({ label: "Upstream prefix", name: "proxy_cache_namespace", mono: true, spellcheck: false, placeholder: "library", hint: "Optional namespace every repository has upstream, such as library." });
  const username = textField({ label: "Upstream account", name: "proxy_cache_username", autocomplete: "off", spellcheck: false });
  const password = textField({ label: "Password or token", name: "proxy_cache_password", type: "password", autocomplete: "new-password", hint: "Stored encrypted; it is never shown again." });
  const revalidate = textField({ label: "Revalidate tags after (seconds)", name: "proxy_cache_revalidate_seconds", type: "number", placeholder: "server default", hint: "A cached tag is served this long before upstream is asked whether it moved." });
  const tls = checkField("proxy_cache_verify_tls", "Verify the upstream's TLS certificate", true);
  const group = h(
    "fieldset",
    { class: "field-group", id: "proxy-cache-fields", hidden: true },
    h("legend", { class: "field-label" }, "Upstream registry"),
    h("p", { class: "field-hint" }, "Pulls are answered from the cache, or fetched from upstream and kept; pushes are refused."),
    url.el,
    namespace.el,
    username.el,
    password.el,
    revalidate.el,
    tls,
  );
  toggle.addEventListener("click", () => {
    const on = toggle.getAttribute("aria-checked") !== "true";
    toggle.setAttribute("aria-checked", String(on));
    group.hidden = !on;
    url.input.required = on;
    if (on) url.input.focus();
  });
  const el = h("div", { class: "proxy-cache-choice" }, h("div", { class: "check-row" }, toggle), group);
  /** @param {Record<string, any>} values */
  const value = (values) => {
    if (toggle.getAttribute("aria-checked") !== "true") return null;
    if (!/^https?:\/\/[^/]/.test(values.proxy_cache_url || "")) {
      setFieldError(url.input, "Enter the upstream's http:// or https:// address.");
      url.input.focus();
      throw quietError("Enter the upstream's address.");
    }
    return {
      url: values.proxy_cache_url,
      namespace: values.proxy_cache_namespace || "",
      username: values.proxy_cache_username || null,
      password: password.input.value || null,
      verify_tls: values.proxy_cache_verify_tls,
      revalidate_seconds: values.proxy_cache_revalidate_seconds === "" || values.proxy_cache_revalidate_seconds === undefined ? null : Number(values.proxy_cache_revalidate_seconds),
    };
  };
  return { el, value };
}

/**
 * The confirmation of deleting a registry: one that still holds images is deleted only with
 * them, after a tick in the box that says so.
 * @param {Registry} registry
 * @returns {ConfirmOptions}
 */
export function deleteRegistryConfirmation(registry) {
  const holds = registry.image_count > 0;
  return {
    title: `Delete registry ${registry.name}?`,
    message: holds
      ? h("p", {}, `${registry.name} still holds ${plural(registry.image_count, "image")}. Deleting it deletes them too, with every tag; pulls of them will fail. This cannot be undone.`)
      : h("p", {}, `The registry ${registry.name} is empty. Its address stops working at once.`),
    requireCheck: holds ? `Also delete its ${plural(registry.image_count, "image")}` : null,
    confirmLabel: "Delete registry",
    action: async () => {
      await api.delete(`/registries/${enc(registry.name)}`, undefined, { query: holds ? { force: "true" } : undefined });
    },
  };
}

/** @param {Registry} registry */
export const registryDeleted = (registry) => `Registry ${registry.name} deleted.`;
