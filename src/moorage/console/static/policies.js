// What the protection and cleanup tabs share: image and tag
// selectors, the "Protected" badge, and a registry's list of policies of one kind — at most
// MAX_POLICIES of them, in a card with a counter, an add/edit dialog and delete.

import { api } from "./api.js";
import { h } from "./dom.js";
import { badge } from "./widgets/badge.js";
import { button } from "./widgets/buttons.js";
import { openDialog } from "./widgets/dialog.js";
import { checkField, field } from "./widgets/form.js";
import { card } from "./widgets/layout.js";
import { limitCounter } from "./widgets/limit.js";
import { pagedSource, resourceList } from "./widgets/resource-list.js";

/** @typedef {import("./dom.js").Child} Child */
/** @typedef {import("./registry-actions.js").Registry} Registry */
/** @typedef {import("./widgets/form.js").FormValues} FormValues */
/**
 * @template T
 * @typedef {import("./widgets/resource-list.js").ResourceColumn<T>} ResourceColumn
 */
/**
 * @template T
 * @typedef {import("./widgets/resource-list.js").ResourceList<T>} ResourceList
 */
/**
 * @template T
 * @typedef {import("./api.js").Page<T>} Page
 */

/** @typedef {{pattern: string, include: boolean}} Selector which names a policy selects: those matching the pattern, or those not */

/**
 * What protection and cleanup policies have in common (cleanup's tag selector also says
 * whether untagged artifacts are selected, and it has a rule).
 * @typedef {object} Policy
 * @property {number} id
 * @property {Selector} image
 * @property {Selector & {untagged?: boolean}} tag
 * @property {boolean} enabled
 * @property {string} [created_at]
 */

/** @typedef {"protection" | "cleanup"} PolicyKind */

export const MAX_POLICIES = 15;

/**
 * A pattern quoted as the server quotes it in its messages (Python's repr of a string), so
 * the console and the API name a policy in the same words.
 * @param {string} text
 */
export function quoted(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text.replace(/\\/g, "\\\\");
  return quote + (quote === "'" ? escaped.replace(/'/g, "\\'") : escaped) + quote;
}

/**
 * `'v*'` or `excluding 'v*'`; a cleanup tag selector adds `, tagged only` or ` and untagged`.
 * @param {Selector & {untagged?: boolean}} selector
 */
function selectorDescription(selector) {
  const base = selector.include ? quoted(selector.pattern) : `excluding ${quoted(selector.pattern)}`;
  if (selector.untagged === undefined) return base;
  return selector.untagged ? `${base} and untagged` : `${base}, tagged only`;
}

/**
 * `images 'app/*', tags 'v*'`: what a policy selects, which is how the console names a
 * policy (as the server does). Its id is global across registries, so it is never shown: a
 * user would read "policy 7" as the seventh of this registry.
 * @param {{image: Selector, tag: Selector & {untagged?: boolean}}} policy
 */
export function policySelectors(policy) {
  return `images ${selectorDescription(policy.image)}, tags ${selectorDescription(policy.tag)}`;
}

/**
 * How a protected row names its policy: by what it selects (`protected_by`), never by its id.
 * @param {string | null | undefined} selectors
 */
export function protectionPolicyName(selectors) {
  return selectors ? `the protection policy on ${selectors}` : "a protection policy";
}

/**
 * The lock badge of protected artifacts and tags.
 * @param {string} [title]
 */
export function protectedBadge(title = "Protected: a protection policy forbids moving or deleting it") {
  return badge("Protected", "protected", title);
}

/**
 * "matching app/*" or "excluding tmp-*": which way a selector works, then its pattern.
 * @param {Selector} selector
 * @param {string} what
 */
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

/**
 * The selector in a sentence: "tags matching v*" / "tags not matching v*".
 * @param {Selector} selector
 * @param {string} what
 */
export function selectorWords(selector, what) {
  if (selector.include && /^\*\*?$/.test(selector.pattern)) return `all ${what}`;
  return `${what} ${selector.include ? "matching" : "not matching"} ${selector.pattern}`;
}

/**
 * Two fields side by side: matching/excluding, and the pattern.
 * @param {{name: string, label: string, patternLabel: string, selector?: Selector, placeholder: string, hint: Child}} options
 */
function selectorFields({ name, label, patternLabel, selector, placeholder, hint }) {
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
    /** @returns {Selector} */
    read: () => ({ pattern: pattern.input.value.trim(), include: mode.input.value === "include" }),
  };
}

/**
 * A policy's image and tag selectors as fields; images default to all of them.
 * @param {{policy: Policy | null, imageHint: Child, tag: {selector?: Selector, placeholder: string, hint: Child}}} options
 */
export function selectorFieldPair({ policy, imageHint, tag }) {
  const images = selectorFields({
    name: "image",
    label: "Images",
    patternLabel: "Image pattern",
    selector: policy?.image || { pattern: "**", include: true },
    placeholder: "**",
    hint: imageHint,
  });
  const tags = selectorFields({ name: "tag", label: "Tags", patternLabel: "Tag pattern", ...tag });
  return { images, tags };
}

/** @param {PolicyKind} kind */
const title = (kind) => kind.charAt(0).toUpperCase() + kind.slice(1);

/**
 * The add or edit dialog of a policy: `body` holds its fields, an "Enabled" box is added
 * below them, and `payload(values)` makes what is sent (it may throw to keep the dialog open).
 * The edit dialog names the policy by what it selects.
 * @template {Policy} P
 * @param {{kind: PolicyKind, base: string, policy: P | null, description: string, body: Child[], payload: (values: FormValues) => unknown}} options
 * @returns {Promise<unknown>}
 */
export function policyDialog({ kind, base, policy, description, body, payload }) {
  return openDialog({
    title: policy ? `Edit the ${kind} policy on ${policySelectors(policy)}` : `Add ${kind} policy`,
    description,
    body: h("div", { class: "policy-form" }, body, checkField("enabled", "Enabled", policy ? policy.enabled : true)),
    submitLabel: policy ? "Save policy" : "Add policy",
    wide: true,
    onSubmit: ({ values }) => {
      const sent = payload(values);
      return policy ? api.put(`${base}/${policy.id}`, sent) : api.post(base, sent);
    },
  });
}

/**
 * The image selector and the tag selector: the columns every policy list starts with (what
 * a policy selects is what names it; its global id is not shown).
 * @template {Policy} P
 * @param {(row: P) => Child} [tagCell] the tag column's content, the tag selector by default
 * @returns {Array<ResourceColumn<P>>}
 */
export function selectorColumns(tagCell = (row) => selectorCell(row.tag, "Tags")) {
  return [
    { id: "image", label: "Images", render: (row) => selectorCell(row.image, "Images") },
    { id: "tag", label: "Tags", render: tagCell },
  ];
}

/**
 * The "Enabled" switch column: `save(row, enabled)` sends the whole policy back. The switch
 * is named "Protection policy on images 'app', tags 'v*' enabled" (`describe`: the policy's
 * words, its selectors by default).
 * @template {Policy} P
 * @param {PolicyKind} kind
 * @param {(row: P, enabled: boolean) => Promise<P>} save
 * @param {(row: P) => string} [describe]
 * @returns {ResourceColumn<P>}
 */
export function statusColumn(kind, save, describe = policySelectors) {
  return { id: "enabled", label: "Status", toggle: { label: (row) => `${title(kind)} policy on ${describe(row)} enabled`, save } };
}

/**
 * A registry's policies of one kind, in a card: the counter and the add button at its head
 * (for those who may change them), the table, the add/edit dialog and delete.
 * @template {Policy} P
 * @param {object} options
 * @param {PolicyKind} options.kind
 * @param {string} options.base the policies' API path
 * @param {boolean} options.manage
 * @param {AbortSignal} options.signal
 * @param {Array<ResourceColumn<P>>} options.columns
 * @param {(policy: P | null) => Promise<unknown>} options.open the add (null) or edit dialog
 * @param {(policy: P) => Child} options.deleteMessage what deleting the policy means
 * @param {() => Node} options.empty
 * @param {string} options.description the card's
 * @param {(result: Page<P>) => void} [options.onLoaded]
 * @param {(policy: P) => string} [options.describe] the policy in words, which name it in
 *   labels and messages: its selectors by default
 * @returns {{el: HTMLElement, list: ResourceList<P>}}
 */
export function policyList({ kind, base, manage, signal, columns, open, deleteMessage, empty, description, onLoaded, describe = policySelectors }) {
  const addButton = button("Add policy", { kind: "primary", iconName: "plus" });
  const limit = limitCounter({
    max: MAX_POLICIES,
    button: addButton,
    title: `A registry may have up to ${MAX_POLICIES} ${kind} policies.`,
    counter: (total) => `${total} of ${MAX_POLICIES} policies`,
    note: (full) =>
      full
        ? `This registry has ${MAX_POLICIES} ${kind} policies, the most a registry may have. Delete one to add another.`
        : `A registry may have up to ${MAX_POLICIES} ${kind} policies.`,
    hideNoteBelowLimit: true, // below the limit, the counter says enough
  });
  /** @param {P} policy "Protection policy on images 'app', tags 'v*'" */
  const named = (policy) => `${title(kind)} policy on ${describe(policy)}`;
  const list = resourceList({
    label: `${title(kind)} policies`,
    noun: ["policy", "policies"],
    signal,
    load: pagedSource(base, signal),
    rowKey: (row) => row.id,
    onLoaded: (result) => {
      limit.update(result.total);
      onLoaded?.(result);
    },
    columns,
    manage,
    name: (row) => `${kind} policy on ${describe(row)}`,
    form: {
      open,
      saved: (saved, policy) => (policy ? `${named(saved)} saved.` : `${named(saved)} added.`),
      createButton: addButton,
      edit: true,
    },
    remove: {
      confirm: (policy) => ({
        title: `Delete the ${kind} policy on ${describe(policy)}?`,
        message: h("p", {}, deleteMessage(policy)),
        confirmLabel: "Delete policy",
        action: () => api.delete(`${base}/${policy.id}`),
      }),
      done: (policy) => `${named(policy)} deleted.`,
    },
    empty,
  });
  list.el.classList.add("policy-list"); // at most 15 rows: the counter replaces the pager
  return {
    el: card(`${title(kind)} policies`, [manage && limit.note, list.el], {
      description,
      actions: manage ? [limit.counter, addButton] : null,
    }),
    list,
  };
}
