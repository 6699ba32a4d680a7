// Shared building blocks: dialogs, forms, tables, tabs, alerts, copy buttons.

import { ApiError } from "./api.js";
import { append, breakable, clear, copyText, h, icon, plural, uid } from "./dom.js";

// Announcements and toasts ---------------------------------------------------------------------

/** Messages for screen readers that need no visible toast ("Copied"). */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = message;
  }, 30);
}

/** A short confirmation in the corner; errors belong next to what failed, not here. */
export function toast(message, kind = "success") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const close = h("button", { type: "button", class: "icon-btn toast-close", "aria-label": "Dismiss" }, icon("close"));
  const item = h(
    "div",
    { class: ["toast", `toast-${kind}`] },
    icon(kind === "success" ? "check" : "info", "icon toast-icon"),
    h("span", { class: "toast-text" }, message),
    close,
  );
  const remove = () => item.remove();
  close.addEventListener("click", remove);
  region.append(item);
  while (region.children.length > 3) region.firstElementChild.remove();
  window.setTimeout(remove, 5000);
}

// Small pieces ---------------------------------------------------------------------------------

export function button(label, { kind = "secondary", iconName, onClick, type = "button", ariaLabel, disabled, size, title } = {}) {
  return h(
    "button",
    {
      type,
      class: ["btn", `btn-${kind}`, size && `btn-${size}`],
      onClick,
      "aria-label": ariaLabel,
      title,
      disabled,
    },
    iconName && icon(iconName),
    h("span", { class: "btn-label" }, label),
  );
}

export function iconButton(iconName, label, { onClick, kind, disabled } = {}) {
  return h(
    "button",
    { type: "button", class: ["icon-btn", kind && `icon-btn-${kind}`], "aria-label": label, title: label, onClick, disabled },
    icon(iconName),
  );
}

export function badge(text, kind = "neutral", title) {
  return h("span", { class: ["badge", `badge-${kind}`], title }, text);
}

export function link(href, text, className) {
  return h("a", { href, class: className }, text);
}

export function loading(text = "Loading…") {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

/** An error shown where it happened, with an optional retry. */
export function alertBox(message, { kind = "error", retry, title } = {}) {
  const box = h(
    "div",
    { class: ["alert", `alert-${kind}`], role: kind === "error" ? "alert" : "note" },
    icon(kind === "error" ? "error" : kind === "warning" ? "warning" : "info", "icon alert-icon"),
    h("div", { class: "alert-text" }, title && h("strong", { class: "alert-title" }, title), h("span", {}, message)),
  );
  if (retry) box.append(button("Try again", { kind: "secondary", size: "sm", iconName: "refresh", onClick: retry }));
  return box;
}

/** The message to show for a failure: the problem's `detail`, as a sentence. */
export function messageOf(error) {
  const text = error instanceof ApiError ? error.detail : error && error.message ? error.message : String(error);
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : "Something went wrong.";
}

export function copyButton(text, label = "Copy") {
  const btn = h("button", { type: "button", class: "icon-btn copy-btn", "aria-label": label, title: label }, icon("copy"));
  let timer = 0;
  btn.addEventListener("click", async () => {
    const value = typeof text === "function" ? text() : text;
    const ok = await copyText(value);
    window.clearTimeout(timer);
    if (ok) {
      btn.replaceChildren(icon("check"));
      btn.classList.add("copied");
      btn.title = "Copied";
      announce("Copied to the clipboard");
      timer = window.setTimeout(() => {
        btn.replaceChildren(icon("copy"));
        btn.classList.remove("copied");
        btn.title = label;
      }, 1800);
    } else {
      toast("Copying is blocked here: select the text and press Ctrl+C.", "info");
    }
  });
  return btn;
}

/** Monospace text with a copy button beside it. */
export function copyable(text, label, { display, className } = {}) {
  return h(
    "span",
    { class: ["copyable", className] },
    h("code", { class: "mono", title: text }, display || breakable(text)),
    copyButton(text, label),
  );
}

/** A shell command on its own line, with a copy button. */
export function commandBlock(command, label) {
  return h(
    "div",
    { class: "command" },
    h("span", { class: "command-prompt", "aria-hidden": "true" }, "$"),
    h("code", { class: "command-text" }, command),
    copyButton(command, label || "Copy command"),
  );
}

export function emptyState({ iconName = "box", title, body, actions }) {
  return h(
    "div",
    { class: "empty" },
    h("div", { class: "empty-icon" }, icon(iconName)),
    h("p", { class: "empty-title" }, title),
    body && h("div", { class: "empty-body" }, body),
    actions && h("div", { class: "empty-actions" }, actions),
  );
}

export function breadcrumbs(items) {
  const list = h("ol", {});
  items.forEach((item, i) => {
    const last = i === items.length - 1;
    list.append(
      h(
        "li",
        {},
        last || !item.href
          ? h("span", { "aria-current": last ? "page" : null, class: "crumb-current" }, item.label)
          : h("a", { href: item.href }, item.label),
      ),
    );
  });
  return h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumb" }, list);
}

export function pageHead({ title, subtitle, actions, iconName, badges }) {
  return h(
    "div",
    { class: "page-head" },
    h(
      "div",
      { class: "page-title" },
      iconName && h("span", { class: "page-icon" }, icon(iconName)),
      h(
        "div",
        { class: "page-title-text" },
        h("h1", { tabindex: "-1" }, title, badges),
        subtitle && h("div", { class: "page-subtitle" }, subtitle),
      ),
    ),
    actions && h("div", { class: "page-actions" }, actions),
  );
}

export function card(title, body, { actions, id, description } = {}) {
  const headingId = id || uid("card");
  return h(
    "section",
    { class: "card", "aria-labelledby": headingId },
    h(
      "div",
      { class: "card-head" },
      h("div", {}, h("h2", { id: headingId }, title), description && h("p", { class: "card-description" }, description)),
      actions && h("div", { class: "card-actions" }, actions),
    ),
    h("div", { class: "card-body" }, body),
  );
}

/** A definition list of label → value pairs (values may be nodes). */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([label, value, options]) => h("div", { class: ["fact", options?.wide && "fact-wide"] }, h("dt", {}, label), h("dd", {}, value))),
  );
}

export function toggleSwitch({ checked, label, onChange }) {
  const btn = h(
    "button",
    { type: "button", role: "switch", class: "switch", "aria-checked": String(checked), "aria-label": label },
    h("span", { class: "switch-track", "aria-hidden": "true" }, h("span", { class: "switch-thumb" })),
    h("span", { class: "switch-text" }, checked ? "Enabled" : "Disabled"),
  );
  let busy = false;
  btn.addEventListener("click", async () => {
    if (busy) return;
    const next = btn.getAttribute("aria-checked") !== "true";
    busy = true;
    btn.setAttribute("aria-busy", "true");
    try {
      await onChange(next);
    } finally {
      busy = false;
      btn.removeAttribute("aria-busy");
    }
  });
  return btn;
}

export function setSwitch(btn, checked) {
  btn.setAttribute("aria-checked", String(checked));
  btn.querySelector(".switch-text").textContent = checked ? "Enabled" : "Disabled";
}

// Forms ----------------------------------------------------------------------------------------

/**
 * A labelled control with a hint and a place for its error.
 * `options` makes a <select>; `values` returned by dialogs are keyed by `name`.
 */
export function field({
  label,
  name,
  type = "text",
  value = "",
  required = false,
  hint,
  placeholder,
  autocomplete,
  options,
  readonly,
  mono,
  list,
  pattern,
  requiredMessage,
  spellcheck,
}) {
  const id = uid(`f-${name}`);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const describedBy = [hintId].filter(Boolean).join(" ") || null;
  let input;
  if (options) {
    input = h(
      "select",
      { id, name, class: "input", required, "aria-describedby": describedBy },
      options.map((option) => h("option", { value: option.value }, option.label)),
    );
    input.value = value;
  } else {
    input = h("input", {
      id,
      name,
      type,
      class: ["input", mono && "mono"],
      value,
      required,
      placeholder,
      autocomplete: autocomplete || "off",
      readonly,
      list,
      pattern,
      spellcheck: spellcheck === undefined ? null : String(spellcheck),
      "aria-describedby": describedBy,
    });
  }
  if (requiredMessage) input.dataset.required = requiredMessage;
  const wrapper = h(
    "div",
    { class: "field" },
    h("label", { for: id, class: "field-label" }, label, required && h("span", { class: "required", "aria-hidden": "true" }, " *")),
    input,
    hint && h("p", { class: "field-hint", id: hintId }, hint),
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
  return { el: wrapper, input };
}

export function setFieldError(input, message) {
  const wrapper = input.closest(".field");
  const box = wrapper && wrapper.querySelector(".field-error");
  if (!box) return;
  const hintId = wrapper.querySelector(".field-hint")?.id;
  if (message) {
    box.replaceChildren(icon("error"), h("span", {}, message));
    box.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", [hintId, box.id].filter(Boolean).join(" "));
  } else {
    box.hidden = true;
    box.replaceChildren();
    input.removeAttribute("aria-invalid");
    if (hintId) input.setAttribute("aria-describedby", hintId);
    else input.removeAttribute("aria-describedby");
  }
}

function formValues(form) {
  const values = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") values[el.name] = el.checked;
    else values[el.name] = typeof el.value === "string" ? el.value.trim() : el.value;
  }
  return values;
}

// Dialogs --------------------------------------------------------------------------------------

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';

function focusables(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter((el) => el.getClientRects().length > 0 && !el.closest("[hidden]"));
}

/**
 * A modal dialog around a form. Focus stays inside, Escape cancels, Enter submits.
 * `onSubmit({values, form, dialog})` may throw: the error is shown inside the dialog and it
 * stays open. Resolves with onSubmit's result (true if none), or null when cancelled.
 */
export function openDialog({
  title,
  description,
  body,
  submitLabel,
  danger = false,
  cancelLabel = "Cancel",
  onSubmit,
  wide = false,
  initialFocus,
  submitDisabled = false,
}) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid("dialog-title");
    const descriptionId = description ? uid("dialog-description") : null;
    const errorBox = h("div", { class: "dialog-error", hidden: true });
    const submit = submitLabel
      ? h("button", { type: "submit", class: ["btn", danger ? "btn-danger" : "btn-primary"], disabled: submitDisabled }, h("span", { class: "btn-label" }, submitLabel))
      : null;
    const cancel = cancelLabel ? h("button", { type: "button", class: "btn btn-secondary", value: "cancel" }, cancelLabel) : null;
    const closeButton = h("button", { type: "button", class: "icon-btn dialog-close", "aria-label": "Close" }, icon("close"));
    const form = h(
      "form",
      { class: "dialog-form", novalidate: true },
      h("header", { class: "dialog-head" }, h("h2", { id: titleId }, title), closeButton),
      h(
        "div",
        { class: "dialog-body" },
        description && h("p", { id: descriptionId, class: "dialog-description" }, description),
        body,
        errorBox,
      ),
      h("footer", { class: "dialog-foot" }, cancel, submit),
    );
    const dialog = h(
      "dialog",
      { class: ["dialog", wide && "dialog-wide"], "aria-labelledby": titleId, "aria-describedby": descriptionId, "aria-modal": "true" },
      form,
    );
    let busy = false;
    let done = false;

    const close = (result) => {
      if (done) return;
      done = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      const target = opener && opener.isConnected ? opener : document.querySelector("main h1");
      if (target instanceof HTMLElement) target.focus();
      resolve(result);
    };
    const setBusy = (value) => {
      busy = value;
      dialog.setAttribute("aria-busy", String(value));
      if (submit) {
        submit.disabled = value;
        submit.classList.toggle("is-busy", value);
      }
    };
    const showError = (error) => {
      if (error && error.quiet) return; // already shown next to its field
      const fieldErrors = error instanceof ApiError ? error.errors : [];
      let placed = false;
      for (const item of fieldErrors) {
        const name = (item.location || []).slice(-1)[0];
        const input = name && form.elements.namedItem(name);
        if (input instanceof HTMLElement) {
          setFieldError(input, item.message);
          placed = true;
        }
      }
      if (!placed) {
        clear(errorBox, alertBox(messageOf(error)));
        errorBox.hidden = false;
      }
    };

    cancel?.addEventListener("click", () => !busy && close(null));
    closeButton.addEventListener("click", () => !busy && close(null));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      if (!busy) close(null);
    });
    // The browser may close a modal itself (a repeated Escape); finish the same way.
    dialog.addEventListener("close", () => close(null));
    dialog.addEventListener("keydown", (event) => {
      if (event.key === "Tab") {
        const items = focusables(dialog);
        if (!items.length) return;
        const first = items[0];
        const last = items[items.length - 1];
        if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
          event.preventDefault();
          last.focus();
        } else if (!event.shiftKey && document.activeElement === last) {
          event.preventDefault();
          first.focus();
        }
      } else if (event.key === "Enter" && !event.isComposing) {
        const target = event.target;
        const own = ["BUTTON", "A", "TEXTAREA", "SUMMARY"].includes(target.tagName);
        if (!own) {
          event.preventDefault();
          if (submit && !submit.disabled) form.requestSubmit(submit);
          else if (!submit) close(true);
        }
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (busy) return;
      if (!submit) {
        close(true);
        return;
      }
      errorBox.hidden = true;
      let firstInvalid = null;
      for (const el of form.elements) {
        if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement)) continue;
        setFieldError(el, null);
        if (el.required && !String(el.value).trim()) {
          setFieldError(el, el.dataset.required || "This field is required.");
          firstInvalid = firstInvalid || el;
        }
      }
      if (firstInvalid) {
        firstInvalid.focus();
        return;
      }
      setBusy(true);
      try {
        const result = onSubmit ? await onSubmit({ values: formValues(form), form, dialog }) : true;
        setBusy(false);
        close(result === undefined ? true : result);
      } catch (error) {
        setBusy(false);
        showError(error);
        if (!dialog.contains(document.activeElement)) submit.focus();
      }
    });

    document.body.append(dialog);
    dialog.showModal();
    const first =
      (typeof initialFocus === "function" ? initialFocus(dialog) : initialFocus) ||
      dialog.querySelector(".dialog-body input:not([readonly]), .dialog-body select") ||
      (submit && !submit.disabled ? submit : null) ||
      cancel ||
      closeButton;
    first.focus();
  });
}

/**
 * Confirmation before something irreversible. `action` runs inside the dialog so its error
 * shows there. `requireCheck` adds a checkbox that must be ticked first.
 */
export function confirmAction({ title, message, items, confirmLabel = "Delete", danger = true, action, requireCheck, note }) {
  const list = items && items.length
    ? h("ul", { class: "confirm-list" }, items.slice(0, 8).map((item) => h("li", {}, h("code", { class: "mono" }, item))), items.length > 8 && h("li", { class: "muted" }, `and ${items.length - 8} more`))
    : null;
  let check = null;
  const body = [h("div", { class: "confirm-message" }, message), list];
  if (note) body.push(alertBox(note, { kind: "warning" }));
  if (requireCheck) {
    const id = uid("confirm-check");
    check = h("input", { type: "checkbox", id, name: "confirmed", class: "checkbox" });
    body.push(h("div", { class: "check-row" }, check, h("label", { for: id }, requireCheck)));
  }
  return openDialog({
    title,
    body,
    submitLabel: confirmLabel,
    danger,
    submitDisabled: Boolean(requireCheck),
    initialFocus: (dialog) => (check ? check : dialog.querySelector('button[type="submit"]')),
    onSubmit: async ({ dialog }) => {
      await action();
      return true;
    },
  }).then((result) => result === true);
}

// Wired after openDialog builds the form: enables the confirm button when the box is ticked.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLInputElement && target.name === "confirmed") {
    const submit = target.form?.querySelector('button[type="submit"]');
    if (submit) submit.disabled = !target.checked;
  }
});

// Tabs -----------------------------------------------------------------------------------------

/** Tabs that are links (each tab has its own URL); arrow keys move between them. */
export function tabs({ label, items, active, panel }) {
  const panelId = uid("tabpanel");
  const list = h("div", { class: "tabs", role: "tablist", "aria-label": label });
  const tabEls = items.map((item) => {
    const selected = item.id === active;
    const tab = h(
      "a",
      {
        href: item.href,
        role: "tab",
        id: `tab-${item.id}`,
        class: ["tab", selected && "is-active"],
        "aria-selected": String(selected),
        "aria-controls": selected ? panelId : null,
        tabindex: selected ? "0" : "-1",
      },
      item.iconName && icon(item.iconName),
      item.label,
      item.count !== undefined && item.count !== null && h("span", { class: "tab-count" }, String(item.count)),
    );
    tab.addEventListener("keydown", (event) => {
      if (event.key === " ") {
        event.preventDefault();
        tab.click();
      }
    });
    return tab;
  });
  list.append(...tabEls);
  list.addEventListener("keydown", (event) => {
    const index = tabEls.indexOf(document.activeElement);
    if (index < 0) return;
    let next = null;
    if (event.key === "ArrowRight") next = tabEls[(index + 1) % tabEls.length];
    if (event.key === "ArrowLeft") next = tabEls[(index - 1 + tabEls.length) % tabEls.length];
    if (event.key === "Home") next = tabEls[0];
    if (event.key === "End") next = tabEls[tabEls.length - 1];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });
  const panelEl = h("div", { role: "tabpanel", id: panelId, class: "tabpanel", "aria-labelledby": `tab-${active}` }, panel);
  return h("div", { class: "tabset" }, list, panelEl);
}

// Tables ---------------------------------------------------------------------------------------

const PAGE_SIZES = [10, 25, 50, 100];

/** Table state kept in the address (?q=&sort=&page=&size=), so a reload shows the same rows. */
function urlState(prefix) {
  const key = (name) => (prefix ? `${prefix}_${name}` : name);
  return {
    read() {
      const params = new URLSearchParams(location.search);
      return {
        q: params.get(key("q")) || "",
        sort: params.get(key("sort")),
        page: Number(params.get(key("page"))) || 1,
        pageSize: Number(params.get(key("size"))) || null,
      };
    },
    write(state, defaults) {
      const params = new URLSearchParams(location.search);
      const set = (name, value, fallback) => {
        if (value && value !== fallback) params.set(key(name), String(value));
        else params.delete(key(name));
      };
      set("q", state.q, "");
      set("sort", state.sort, defaults.sort);
      set("page", state.page, 1);
      set("size", state.pageSize, defaults.pageSize);
      const search = params.toString();
      const url = `${location.pathname}${search ? `?${search}` : ""}${location.hash}`;
      if (url !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(history.state, "", url);
    },
  };
}

/**
 * A paged table backed by the API: search, sort, paging, selection, loading and empty states.
 *
 * columns: [{id, label, sort?, render(row), className?, hideLabel?, descFirst?}]
 * load({page, page_size, q, sort}) → {items, total}
 */
export function dataTable({
  label,
  columns,
  load,
  rowKey,
  rowLabel,
  selectable = false,
  search,
  defaultSort = null,
  pageSize: defaultPageSize = 25,
  toolbar = [],
  bulk = [],
  empty,
  noun = ["item", "items"],
  urlKey = null,
  onLoaded,
  signal,
  compact = false,
}) {
  const url = urlKey === null ? null : urlState(urlKey);
  const initial = url ? url.read() : { q: "", sort: null, page: 1, pageSize: null };
  const state = {
    q: initial.q,
    sort: initial.sort || defaultSort,
    page: initial.page,
    pageSize: PAGE_SIZES.includes(initial.pageSize) ? initial.pageSize : defaultPageSize,
    items: [],
    total: 0,
    loaded: false,
    selected: new Map(),
  };
  let requestId = 0;

  const errorArea = h("div", { class: "table-error" });
  const selectionInfo = h("span", { class: "selection-info", "aria-live": "polite" });
  const bulkButtons = bulk.map((action) => {
    const btn = button(action.label, { kind: action.danger ? "danger-outline" : "secondary", iconName: action.iconName, size: "sm", disabled: true });
    btn.addEventListener("click", async () => {
      const rows = [...state.selected.values()];
      if (rows.length) await action.run(rows, api);
    });
    return btn;
  });

  let searchInput = null;
  const toolbarLeft = h("div", { class: "toolbar-left" });
  if (search) {
    const id = uid("search");
    searchInput = h("input", {
      id,
      type: "search",
      class: "input search-input",
      placeholder: search.placeholder || "Search",
      value: state.q,
      autocomplete: "off",
      spellcheck: "false",
    });
    let timer = 0;
    searchInput.addEventListener("input", () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        state.q = searchInput.value.trim();
        state.page = 1;
        refresh();
      }, 250);
    });
    searchInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        window.clearTimeout(timer);
        state.q = searchInput.value.trim();
        state.page = 1;
        refresh();
      }
    });
    toolbarLeft.append(
      h("div", { class: "search" }, h("label", { for: id, class: "visually-hidden" }, search.label), icon("search", "icon search-icon"), searchInput),
    );
  }
  if (bulk.length) toolbarLeft.append(h("div", { class: "bulk" }, bulkButtons, selectionInfo));
  const hasToolbar = search || bulk.length || toolbar.length;
  const toolbarEl = hasToolbar ? h("div", { class: "toolbar" }, toolbarLeft, h("div", { class: "toolbar-right" }, toolbar)) : null;

  const selectAll = selectable
    ? h("input", { type: "checkbox", class: "checkbox", "aria-label": `Select all ${noun[1]} on this page` })
    : null;
  selectAll?.addEventListener("change", () => {
    if (selectAll.checked) state.items.forEach((row) => state.selected.set(rowKey(row), row));
    else state.selected.clear();
    renderRows();
  });

  const headRow = h("tr", {});
  const thead = h("thead", {}, headRow);
  const tbody = h("tbody", {});
  const table = h("table", { class: ["table", compact && "table-compact"], "aria-label": label }, thead, tbody);
  const scroller = h("div", { class: "table-scroll" }, table);
  const emptyArea = h("div", { class: "table-empty", hidden: true });
  const pager = h("div", { class: "pager" });
  const root = h("div", { class: "data-table" }, toolbarEl, errorArea, scroller, emptyArea, pager);

  function renderHead() {
    clear(headRow);
    if (selectable) headRow.append(h("th", { class: "col-select", scope: "col" }, selectAll));
    for (const column of columns) {
      const th = h("th", { scope: "col", class: [column.className, column.headClass] });
      if (column.sort) {
        const [current, desc] = state.sort ? [state.sort.replace(/^-/, ""), state.sort.startsWith("-")] : [null, false];
        const active = current === column.sort;
        th.setAttribute("aria-sort", active ? (desc ? "descending" : "ascending") : "none");
        const sortButton = h(
          "button",
          { type: "button", class: ["sort-btn", active && "is-sorted"] },
          column.label,
          icon(active ? (desc ? "down" : "up") : "sort", "icon sort-icon"),
        );
        sortButton.addEventListener("click", () => {
          if (active) state.sort = desc ? column.sort : `-${column.sort}`;
          else state.sort = column.descFirst ? `-${column.sort}` : column.sort;
          state.page = 1;
          refresh();
        });
        th.append(sortButton);
      } else if (column.hideLabel) {
        th.append(h("span", { class: "visually-hidden" }, column.label));
      } else {
        th.append(column.label);
      }
      headRow.append(th);
    }
  }

  function skeleton() {
    clear(tbody);
    for (let i = 0; i < 3; i += 1) {
      tbody.append(
        h(
          "tr",
          { class: "skeleton-row", "aria-hidden": "true" },
          selectable && h("td", {}),
          columns.map(() => h("td", {}, h("span", { class: "skeleton" }))),
        ),
      );
    }
  }

  function updateSelection() {
    const count = state.selected.size;
    bulkButtons.forEach((btn) => {
      btn.disabled = count === 0;
    });
    selectionInfo.textContent = count ? `${count} selected` : "";
    if (selectAll) {
      selectAll.checked = count > 0 && count === state.items.length;
      selectAll.indeterminate = count > 0 && count < state.items.length;
    }
  }

  function renderRows() {
    clear(tbody);
    for (const row of state.items) {
      const key = rowKey ? rowKey(row) : null;
      const tr = h("tr", { class: state.selected.has(key) ? "is-selected" : null });
      if (selectable) {
        const box = h("input", {
          type: "checkbox",
          class: "checkbox",
          checked: state.selected.has(key),
          "aria-label": `Select ${rowLabel ? rowLabel(row) : key}`,
        });
        box.addEventListener("change", () => {
          if (box.checked) state.selected.set(key, row);
          else state.selected.delete(key);
          tr.classList.toggle("is-selected", box.checked);
          updateSelection();
        });
        tr.append(h("td", { class: "col-select" }, box));
      }
      for (const column of columns) {
        tr.append(h("td", { class: column.className, "data-label": column.label }, column.render(row, api)));
      }
      tbody.append(tr);
    }
    updateSelection();
  }

  function renderPager() {
    clear(pager);
    const pages = Math.max(1, Math.ceil(state.total / state.pageSize));
    if (state.total === 0) return;
    const first = (state.page - 1) * state.pageSize + 1;
    const last = Math.min(state.total, state.page * state.pageSize);
    const sizeId = uid("page-size");
    const sizeSelect = h(
      "select",
      { id: sizeId, class: "input input-sm" },
      PAGE_SIZES.map((size) => h("option", { value: String(size) }, String(size))),
    );
    sizeSelect.value = String(state.pageSize);
    sizeSelect.addEventListener("change", () => {
      state.pageSize = Number(sizeSelect.value);
      state.page = 1;
      refresh();
    });
    const prev = iconButton("left", "Previous page", { disabled: state.page <= 1, onClick: () => go(state.page - 1) });
    const next = iconButton("right", "Next page", { disabled: state.page >= pages, onClick: () => go(state.page + 1) });
    append(pager, [
      h("span", { class: "pager-range" }, `${first.toLocaleString()}–${last.toLocaleString()} of ${plural(state.total, noun[0], noun[1])}`),
      h(
        "div",
        { class: "pager-controls" },
        state.total > PAGE_SIZES[0] && h("label", { for: sizeId, class: "pager-size" }, "Rows per page", sizeSelect),
        h("span", { class: "pager-pages" }, `Page ${state.page} of ${pages}`),
        prev,
        next,
      ),
    ]);
  }

  function go(page) {
    state.page = page;
    refresh();
  }

  async function refresh({ keepSelection = false } = {}) {
    if (signal?.aborted) return; // the page is gone; leave the new page's address alone
    const id = ++requestId;
    if (url) url.write(state, { sort: defaultSort, pageSize: defaultPageSize });
    renderHead();
    if (!keepSelection) state.selected.clear();
    clear(errorArea);
    table.setAttribute("aria-busy", "true");
    root.classList.add("is-loading");
    if (!state.loaded) skeleton();
    let result;
    try {
      result = await load({ page: state.page, page_size: state.pageSize, q: state.q || undefined, sort: state.sort || undefined });
    } catch (error) {
      if (id !== requestId || error.name === "AbortError" || signal?.aborted) return;
      table.setAttribute("aria-busy", "false");
      root.classList.remove("is-loading");
      state.items = [];
      clear(tbody);
      scroller.hidden = true;
      emptyArea.hidden = true;
      clear(pager);
      clear(errorArea, alertBox(messageOf(error), { retry: () => refresh(), title: `Could not load ${noun[1]}.` }));
      return;
    }
    if (id !== requestId || signal?.aborted) return;
    table.setAttribute("aria-busy", "false");
    root.classList.remove("is-loading");
    state.loaded = true;
    state.items = result.items;
    state.total = result.total;
    if (state.items.length === 0 && state.total > 0 && state.page > 1) {
      state.page = Math.max(1, Math.ceil(state.total / state.pageSize));
      refresh();
      return;
    }
    if (state.total === 0) {
      scroller.hidden = true;
      emptyArea.hidden = false;
      if (state.q) {
        clear(
          emptyArea,
          emptyState({
            iconName: "search",
            title: `No ${noun[1]} match “${state.q}”.`,
            actions: button("Clear search", {
              onClick: () => {
                searchInput.value = "";
                state.q = "";
                state.page = 1;
                refresh();
                searchInput.focus();
              },
            }),
          }),
        );
      } else {
        clear(emptyArea, empty ? empty() : emptyState({ title: `No ${noun[1]} yet.` }));
      }
      toolbarEl?.classList.toggle("toolbar-empty", !state.q);
    } else {
      scroller.hidden = false;
      emptyArea.hidden = true;
      toolbarEl?.classList.remove("toolbar-empty");
    }
    // Keep only selected rows still on this page.
    const keys = new Set(state.items.map((row) => rowKey?.(row)));
    for (const key of [...state.selected.keys()]) if (!keys.has(key)) state.selected.delete(key);
    // A control that had focus keeps it across the refresh (found again by its label).
    const focused = tbody.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    renderRows();
    if (focused) {
      const again = [...tbody.querySelectorAll("[aria-label]")].find((el) => el.getAttribute("aria-label") === focused);
      again?.focus();
    }
    renderPager();
    onLoaded?.(result, state);
  }

  /** Errors from row actions go here, next to the table they concern. */
  function showError(message, title) {
    clear(errorArea, alertBox(message, { title }));
    errorArea.scrollIntoView({ block: "nearest" });
  }

  const api = {
    el: root,
    reload: (options) => refresh(options),
    showError,
    clearError: () => clear(errorArea),
    get total() {
      return state.total;
    },
    get items() {
      return state.items;
    },
    clearSelection() {
      state.selected.clear();
      renderRows();
    },
  };
  refresh();
  return api;
}

/** A small table of rows already at hand (layers, platforms, annotations). */
export function staticTable({ label, columns, rows, empty, footer }) {
  if (!rows.length) return empty ? empty() : emptyState({ title: "Nothing to show." });
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "table", "aria-label": label },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.className }, c.hideLabel ? h("span", { class: "visually-hidden" }, c.label) : c.label)))),
      h("tbody", {}, rows.map((row, i) => h("tr", {}, columns.map((c) => h("td", { class: c.className, "data-label": c.label }, c.render(row, i)))))),
      footer && h("tfoot", {}, footer),
    ),
  );
}
