// Registry tab: image protection policies (tags that may not be overwritten, moved or deleted).

import { api } from "./api.js";
import { enc, h, timeCell } from "./dom.js";
import { can } from "./registry-actions.js";
import { policyDialog, policyList, protectedBadge, selectorColumns, selectorFieldPair, selectorWords, statusColumn } from "./policies.js";
import { alertBox } from "./widgets/alert.js";
import { emptyState } from "./widgets/placeholders.js";

/** @typedef {import("./policies.js").Policy} ProtectionPolicy */
/** @typedef {import("./policies.js").Selector} Selector */
/** @typedef {import("./registry-tabs.js").TabContext} TabContext */

/**
 * @param {Selector} image
 * @param {Selector} tag
 * @param {boolean} enabled
 */
function policyBody(image, tag, enabled) {
  return { image, tag, enabled };
}

/** @param {{image: Selector, tag: Selector}} policy */
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

/** @param {TabContext} context */
function render({ registry, signal }) {
  const base = `/registries/${enc(registry.name)}/protection-policies`;
  const manage = can(registry, "manage_policies");

  /** @param {ProtectionPolicy | null} policy */
  function edit(policy) {
    const { images, tags } = selectorFieldPair({
      policy,
      imageHint: IMAGE_HINT.cloneNode(true),
      tag: {
        selector: policy?.tag,
        placeholder: "v*",
        hint: h("span", {}, "For example ", h("code", {}, "v*"), ", ", h("code", {}, "release-*"), " or ", h("code", {}, "{latest,stable}"), "."),
      },
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
    return policyDialog({
      kind: "protection",
      base,
      policy,
      description: "A tag is protected when its image matches the image selector and the tag matches the tag selector.",
      body: [images.el, tags.el, preview],
      payload: (values) => policyBody(images.read(), tags.read(), values.enabled),
    });
  }

  const policies = policyList({
    kind: "protection",
    base,
    manage,
    signal,
    open: edit,
    columns: [
      ...selectorColumns(),
      statusColumn("protection", (row, enabled) => api.put(`${base}/${row.id}`, policyBody(row.image, row.tag, enabled))),
      { id: "created_at", label: "Created", render: (row) => timeCell(row.created_at, { absolute: true }) },
    ],
    deleteMessage: (policy) =>
      `The tags it protects (${describe(policy)}) can be overwritten, moved and deleted again, unless another policy protects them. Cleanup may then delete them too.`,
    description: "Each policy protects the tags it matches in the images it matches.",
    empty: () =>
      emptyState({
        iconName: "tag",
        title: "No protection policies yet",
        body: manage
          ? "Every tag can be moved and deleted. Add a policy to lock release tags, for example tags v* in all images."
          : "Every tag can be moved and deleted. Members who may push can add policies.",
      }),
  });

  return h("div", { class: "tab-policies" }, explanation(), policies.el);
}

export default { id: "protection", label: "Image protection", iconName: "tag", render };
