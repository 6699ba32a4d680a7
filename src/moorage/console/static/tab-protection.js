// Registry tab: image protection policies (tags that may not be overwritten, moved or deleted).
// Also the pieces the cleanup tab shares: selectors, the policy limit, the "Protected" badge.

import { api } from "./api.js";
import { enc, h, timeCell, uid } from "./dom.js";
import {
  alertBox,
  badge,
  button,
  card,
  confirmAction,
  dataTable,
  emptyState,
  field,
  iconButton,
  messageOf,
  openDialog,
  setSwitch,
  toast,
  toggleSwitch,
} from "./widgets.js";

export const MAX_POLICIES = 15;

/** The lock badge of protected artifacts and tags. */
export function protectedBadge(title = "Protected: a protection policy forbids moving or deleting it") {
  return badge("Protected", "protected", title);
}

/** Whether the signed-in user may change the registry's policies (anyone who may push). */
export function canChange(session, registry) {
  const me = session.me;
  if (!me) return false;
  return me.is_admin || me.projects.some((m) => m.project === registry.project && m.role !== "service_viewer");
}

/** The policy list endpoints return every policy at once; the table wants a page. */
export function wholeList(path, signal) {
  return async () => {
    const items = await api.get(path, undefined, { signal });
    return { items, total: items.length };
  };
}

/** "matching app/*" or "excluding tmp-*": which way a selector works, then its pattern. */
export function selectorCell(selector, what) {
  const mode = selector.include ? "matching" : "excluding";
  return h(
    "span",
    {
      class: "selector",
      title: selector.include ? `${what} matching ${selector.pattern}` : `${what} not matching ${selector.pattern}`,
    },
    h("span", { class: ["selector-mode", selector.include ? "is-include" : "is-exclude"] }, mode),
    h("code", { class: "mono selector-pattern" }, selector.pattern),
  );
}

/** The selector in a sentence: "tags matching v*" / "tags not matching v*". */
export function selectorWords(selector, what) {
  if (selector.include && /^\*\*?$/.test(selector.pattern)) return `all ${what}`;
  return `${what} ${selector.include ? "matching" : "not matching"} ${selector.pattern}`;
}

/**
 * Two fields side by side: matching/excluding, and the pattern.
 * Returns {el, mode, pattern, read() → {pattern, include}}.
 */
export function selectorFields({ name, label, patternLabel, selector, placeholder, hint }) {
  const mode = field({
    label,
    name: `${name}_mode`,
    options: [
      { value: "include", label: "matching" },
      { value: "exclude", label: "excluding" },
    ],
    value: selector && !selector.include ? "exclude" : "include",
  });
  const pattern = field({
    label: patternLabel,
    name: `${name}_pattern`,
    value: selector ? selector.pattern : "",
    required: true,
    requiredMessage: "Enter a pattern; ** selects everything.",
    placeholder,
    hint,
    mono: true,
    spellcheck: false,
  });
  return {
    el: h("div", { class: "selector-row" }, mode.el, pattern.el),
    mode: mode.input,
    pattern: pattern.input,
    read: () => ({ pattern: pattern.input.value.trim(), include: mode.input.value === "include" }),
  };
}

/** A checkbox row (enabled, untagged…) whose value the dialog reads by `name`. */
export function checkField(name, label, checked) {
  const id = uid(`check-${name}`);
  return h("div", { class: "check-row" }, h("input", { type: "checkbox", id, name, class: "checkbox", checked }), h("label", { for: id }, label));
}

/** "3 of 15 policies", the note under it, and the add button disabled at the limit. */
export function policyLimit(kind, addButton) {
  const noteId = uid("limit-note");
  const counter = h("span", { class: "key-counter", "aria-live": "polite", title: `A registry may have up to ${MAX_POLICIES} ${kind} policies.` });
  const note = h("p", { class: "limit-note", id: noteId });
  addButton.setAttribute("aria-describedby", noteId);
  return {
    counter,
    note,
    update(total) {
      const full = total >= MAX_POLICIES;
      counter.textContent = `${total} of ${MAX_POLICIES} policies`;
      addButton.disabled = full;
      note.textContent = full
        ? `This registry has ${MAX_POLICIES} ${kind} policies, the most a registry may have. Delete one to add another.`
        : `A registry may have up to ${MAX_POLICIES} ${kind} policies.`;
      note.classList.toggle("is-full", full);
      note.hidden = !full; // below the limit, the counter says enough
    },
  };
}

/** The enabled switch of a policy row; `save(enabled)` sends the whole policy back. */
export function enabledSwitch({ row, label, table, save, manage }) {
  if (!manage) return badge(row.enabled ? "Enabled" : "Disabled", row.enabled ? "success" : "neutral");
  const control = toggleSwitch({
    checked: row.enabled,
    label,
    onChange: async (next) => {
      table.clearError();
      try {
        const updated = await save(next);
        row.enabled = updated.enabled;
        setSwitch(control, updated.enabled);
        toast(`${label.replace(/ enabled$/, "")} ${updated.enabled ? "enabled" : "disabled"}.`);
        table.reload({ keepSelection: true });
      } catch (error) {
        setSwitch(control, row.enabled);
        table.showError(messageOf(error), `Could not ${next ? "enable" : "disable"} ${label.replace(/ enabled$/, "").toLowerCase()}.`);
      }
    },
  });
  return control;
}

/** Edit and delete buttons of a policy row. */
export function rowActions(name, { onEdit, onDelete }) {
  return h(
    "span",
    { class: "row-actions" },
    button("Edit", { kind: "secondary", size: "sm", ariaLabel: `Edit ${name}`, onClick: onEdit }),
    iconButton("trash", `Delete ${name}`, { kind: "danger", onClick: onDelete }),
  );
}

function policyBody(image, tag, enabled) {
  return { image, tag, enabled };
}

function describe(policy) {
  return `${selectorWords(policy.tag, "tags")} in ${selectorWords(policy.image, "images")}`;
}

function explanation() {
  return alertBox(
    h(
      "span",
      {},
      "A tag that an enabled policy matches can't be overwritten with a different image, moved to another artifact or deleted — nor can its artifact, its image or this registry. ",
      "Pushing the same digest to it again is fine, so pipelines can re-run. Cleanup never deletes a protected tag. ",
      "Protected tags and artifacts carry a ",
      protectedBadge(),
      " badge.",
    ),
    { kind: "info", title: "What protection does" },
  );
}

const IMAGE_HINT = h(
  "span",
  {},
  "Names without the registry, like ",
  h("code", {}, "app"),
  " or ",
  h("code", {}, "team/*"),
  ": ",
  h("code", {}, "*"),
  " stays within a part of the path, ",
  h("code", {}, "**"),
  " crosses ",
  h("code", {}, "/"),
  ", ",
  h("code", {}, "{a,b}"),
  " lists alternatives.",
);

function render({ registry, session, signal }) {
  const base = `/registries/${enc(registry.name)}/protection-policies`;
  const manage = canChange(session, registry);
  const addButton = button("Add policy", { kind: "primary", iconName: "plus", onClick: () => edit(null) });
  const limit = policyLimit("protection", addButton);

  async function edit(policy) {
    const images = selectorFields({
      name: "image",
      label: "Images",
      patternLabel: "Image pattern",
      selector: policy?.image || { pattern: "**", include: true },
      placeholder: "**",
      hint: IMAGE_HINT.cloneNode(true),
    });
    const tags = selectorFields({
      name: "tag",
      label: "Tags",
      patternLabel: "Tag pattern",
      selector: policy?.tag,
      placeholder: "v*",
      hint: h("span", {}, "For example ", h("code", {}, "v*"), ", ", h("code", {}, "release-*"), " or ", h("code", {}, "{latest,stable}"), "."),
    });
    const preview = h("p", { class: "policy-preview", "aria-live": "polite" });
    const updatePreview = () => {
      const tag = tags.read();
      preview.replaceChildren(
        tag.pattern
          ? h("span", {}, "Protects ", h("strong", {}, describe({ image: images.read(), tag })), ".")
          : h("span", { class: "muted" }, "Enter a tag pattern to see what the policy protects."),
      );
    };
    [images.mode, images.pattern, tags.mode, tags.pattern].forEach((input) => input.addEventListener("input", updatePreview));
    updatePreview();
    const saved = await openDialog({
      title: policy ? `Edit protection policy ${policy.id}` : "Add protection policy",
      description: "A tag is protected when its image matches the image selector and the tag matches the tag selector.",
      body: h("div", { class: "policy-form" }, images.el, tags.el, preview, checkField("enabled", "Enabled", policy ? policy.enabled : true)),
      submitLabel: policy ? "Save policy" : "Add policy",
      wide: true,
      onSubmit: ({ values }) => {
        const body = policyBody(images.read(), tags.read(), values.enabled);
        return policy ? api.put(`${base}/${policy.id}`, body) : api.post(base, body);
      },
    });
    if (saved && typeof saved === "object") {
      toast(policy ? `Protection policy ${saved.id} saved.` : `Protection policy ${saved.id} added.`);
      table.reload();
    }
  }

  function remove(policy) {
    return confirmAction({
      title: `Delete protection policy ${policy.id}?`,
      message: h(
        "p",
        {},
        `The tags it protects (${describe(policy)}) can be overwritten, moved and deleted again, unless another policy protects them. Cleanup may then delete them too.`,
      ),
      confirmLabel: "Delete policy",
      action: () => api.delete(`${base}/${policy.id}`),
    }).then((done) => {
      if (done) {
        toast(`Protection policy ${policy.id} deleted.`);
        table.reload();
      }
    });
  }

  const columns = [
    { id: "id", label: "Policy", className: "col-policy", render: (row) => h("span", { title: `Protection policy ${row.id}` }, `#${row.id}`) },
    { id: "image", label: "Images", render: (row) => selectorCell(row.image, "Images") },
    { id: "tag", label: "Tags", render: (row) => selectorCell(row.tag, "Tags") },
    {
      id: "enabled",
      label: "Status",
      render: (row) =>
        enabledSwitch({
          row,
          label: `Protection policy ${row.id} enabled`,
          table,
          manage,
          save: (enabled) => api.put(`${base}/${row.id}`, policyBody(row.image, row.tag, enabled)),
        }),
    },
    { id: "created_at", label: "Created", render: (row) => timeCell(row.created_at, { absolute: true }) },
  ];
  if (manage) {
    columns.push({
      id: "actions",
      label: "Actions",
      hideLabel: true,
      className: "col-actions",
      render: (row) => rowActions(`protection policy ${row.id}`, { onEdit: () => edit(row), onDelete: () => remove(row) }),
    });
  }

  const table = dataTable({
    label: "Protection policies",
    noun: ["policy", "policies"],
    signal,
    load: wholeList(base, signal),
    rowKey: (row) => row.id,
    onLoaded: (result) => limit.update(result.total),
    columns,
    empty: () =>
      emptyState({
        iconName: "tag",
        title: "No protection policies yet",
        body: manage
          ? "Every tag can be moved and deleted. Add a policy to lock release tags, for example tags v* in all images."
          : "Every tag can be moved and deleted. Members who may push can add policies.",
      }),
  });

  table.el.classList.add("policy-list"); // at most 15 rows: the counter replaces the pager
  return h(
    "div",
    { class: "tab-policies" },
    explanation(),
    card("Protection policies", [manage && limit.note, table.el], {
      description: "Each policy protects the tags it matches in the images it matches.",
      actions: manage ? [limit.counter, addButton] : null,
    }),
  );
}

export default { id: "protection", label: "Image protection", iconName: "tag", render };
