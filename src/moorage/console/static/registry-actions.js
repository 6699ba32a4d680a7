// Dialogs about one registry, shared by the registry list and the registry page.

import { api } from "./api.js";
import { enc, h, plural } from "./dom.js";
import { commandBlock, confirmAction, field, openDialog, setFieldError, toast } from "./widgets.js";

const NAME_RULE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** The registry's host, from its public URI (HOST/REGISTRY). */
export function hostOf(registry) {
  const uri = registry.public_uri || "";
  return uri.endsWith(`/${registry.name}`) ? uri.slice(0, -registry.name.length - 1) : uri.split("/")[0];
}

export function pushSteps(registry) {
  return h(
    "ol",
    { class: "steps" },
    h(
      "li",
      {},
      h("p", { class: "step-title" }, "Sign in to the registry host"),
      commandBlock(registry.docker_login, `Copy the docker login command for ${registry.name}`),
      h("p", { class: "step-hint" }, "Use your user name and password, or an access key ID and its secret (see Access keys)."),
    ),
    h(
      "li",
      {},
      h("p", { class: "step-title" }, "Tag a local image and push it"),
      registry.docker_push_example
        .split(" && ")
        .map((command) => commandBlock(command, `Copy the ${command.split(" ").slice(0, 2).join(" ")} command for ${registry.name}`)),
      h("p", { class: "step-hint" }, "Replace IMAGE with the local image name and TAG with a version, for example app:1.0."),
    ),
  );
}

export function openPushCommands(registry) {
  return openDialog({
    title: `Push to ${registry.name}`,
    description: h("span", {}, "Images pushed here are stored as ", h("code", { class: "mono" }, `${registry.public_uri}/IMAGE:TAG`), "."),
    body: pushSteps(registry),
    submitLabel: "Done",
    cancelLabel: null,
    wide: true,
  });
}

export async function openCreateRegistry({ onCreated }) {
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
    .then((page) => {
      project.input.replaceChildren(...page.items.map((p) => h("option", { value: p.name }, p.name)));
      project.input.value = page.items.some((p) => p.name === "default") ? "default" : page.items[0]?.name || "";
      project.input.disabled = false;
      if (!page.items.length) setFieldError(project.input, "You are not a member of any project yet; ask an administrator to add you.");
    })
    .catch((error) => {
      project.input.replaceChildren(h("option", { value: "" }, "Unavailable"));
      setFieldError(project.input, `Could not load projects: ${error.detail || error.message}`);
    });

  const created = await openDialog({
    title: "Create registry",
    body: [name.el, project.el],
    submitLabel: "Create",
    onSubmit: async ({ values }) => {
      if (!NAME_RULE.test(values.name)) {
        setFieldError(name.input, "Use lowercase letters and digits, separated by single '-', '_' or '.'.");
        name.input.focus();
        throw Object.assign(new Error("Fix the name and try again."), { quiet: true });
      }
      if (!values.project) {
        setFieldError(project.input, "Choose a project.");
        throw Object.assign(new Error("Choose a project."), { quiet: true });
      }
      return api.post("/registries", { name: values.name, project: values.project });
    },
  });
  if (created && typeof created === "object") {
    toast(`Registry ${created.name} created.`);
    onCreated?.(created);
  }
  return created;
}

export function confirmDeleteRegistry(registry, { onDeleted }) {
  const holds = registry.image_count > 0;
  return confirmAction({
    title: `Delete registry ${registry.name}?`,
    message: holds
      ? h("p", {}, `${registry.name} still holds ${plural(registry.image_count, "image")}. Deleting it deletes them too, with every tag; pulls of them will fail. This cannot be undone.`)
      : h("p", {}, `The registry ${registry.name} is empty. Its address stops working at once.`),
    requireCheck: holds ? `Also delete its ${plural(registry.image_count, "image")}` : null,
    confirmLabel: "Delete registry",
    action: async () => {
      await api.delete(`/registries/${enc(registry.name)}`, undefined, { query: holds ? { force: "true" } : undefined });
    },
  }).then(async (done) => {
    if (done) {
      toast(`Registry ${registry.name} deleted.`);
      onDeleted?.();
    }
    return done;
  });
}
