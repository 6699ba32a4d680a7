// A list of things the user manages through the API — registries, members, policies,
// webhooks, access keys, tags: a paged table of them, a create/edit dialog, a delete
// confirmation, an on/off switch per row, and their errors shown above the table. The flows
// end the same way everywhere: a toast that says what happened, and the list loaded again.

import { api } from "../api.js";
import { h } from "../dom.js";
import { messageOf } from "./alert.js";
import { badge } from "./badge.js";
import { button, iconButton } from "./buttons.js";
import { confirmAction } from "./confirm.js";
import { dataTable } from "./data-table.js";
import { toast } from "./notify.js";
import { setSwitch, toggleSwitch } from "./switch.js";

/** @typedef {import("../dom.js").Child} Child */
/** @typedef {import("../api.js").PageQuery} PageQuery */
/** @typedef {import("./confirm.js").ConfirmOptions} ConfirmOptions */
/**
 * @template T
 * @typedef {import("../api.js").Page<T>} Page
 */
/**
 * @template T
 * @typedef {import("./data-table.js").Column<T>} Column
 */
/**
 * @template T
 * @typedef {import("./data-table.js").DataTable<T>} DataTable
 */
/**
 * @template T
 * @typedef {import("./data-table.js").DataTableOptions<T>} DataTableOptions
 */

/**
 * The on/off switch of a row (shown as a badge to those who may not change it).
 * @template T
 * @typedef {object} ToggleSpec
 * @property {(row: T) => string} label the switch's name: "Webhook ci enabled"
 * @property {(row: T, enabled: boolean) => Promise<{enabled: boolean}>} save
 * @property {(updated: {enabled: boolean}, row: T) => string} [done] the toast; by default "Webhook ci enabled."
 * @property {(row: T, enabled: boolean) => string} [failed] the error's title; by default "Could not enable webhook ci."
 */

/**
 * A column of the list: as dataTable's, or `toggle` for the row's switch.
 * @template T
 * @typedef {Column<T> | (Omit<Column<T>, "render"> & {toggle: ToggleSpec<T>})} ResourceColumn
 */

/**
 * The create and edit dialog.
 * @template T
 * @typedef {object} FormFlow
 * @property {(row: T | null) => Promise<unknown>} open opens the dialog (null: a new one); resolves with the saved item, or not an object when cancelled
 * @property {(saved: T, row: T | null) => string} saved the toast
 * @property {HTMLButtonElement} [createButton] opens the dialog for a new one; the caller places it
 * @property {boolean} [edit] an Edit button on each row
 */

/**
 * The delete button of each row, and its confirmation.
 * @template T
 * @typedef {object} RemoveFlow
 * @property {(row: T) => ConfirmOptions} confirm
 * @property {(row: T) => string} done the toast
 * @property {(row: T) => string} [label] the button's name; by default "Delete " and the row's name
 * @property {(row: T) => boolean} [allowed] whether the user may delete this row (no button if not)
 * @property {(row: T) => string | null} [blocked] why this row cannot be deleted (the button is disabled and says so), or null
 */

/**
 * Deleting the selected rows (the list gets check boxes).
 * @template T
 * @typedef {object} BulkRemoveFlow
 * @property {(rows: T[]) => ConfirmOptions} confirm
 * @property {(rows: T[]) => string} done the toast
 * @property {() => boolean} [allowed] whether the user may delete rows: no check boxes if not (asked at each render)
 * @property {(row: T) => string | null} [blocked] why a row cannot be deleted (its box is disabled), or null
 * @property {string} [label] the bulk button's label; by default "Delete"
 */

/**
 * @template T
 * @typedef {Omit<DataTableOptions<T>, "columns" | "bulk" | "selectable" | "selectBlocked"> & {
 *   columns: Array<ResourceColumn<T>>,
 *   manage?: boolean,
 *   name?: (row: T) => string,
 *   form?: FormFlow<T>,
 *   remove?: RemoveFlow<T>,
 *   bulkRemove?: BulkRemoveFlow<T>,
 *   rowActions?: (row: T) => Child[],
 *   onChange?: () => unknown,
 * }} ResourceListOptions
 * `manage`: whether the user may change the list (create, edit, delete, switch); default true.
 * `name`: how a row is named in its buttons' labels ("Edit protection policy 3").
 * `rowActions`: more controls at the start of each row's actions, whether or not `manage`.
 * `onChange`: called after something was created, saved or deleted (besides the reload).
 */

/**
 * @template T
 * @typedef {DataTable<T> & {create: () => Promise<void>, edit: (row: T) => Promise<void>, remove: (row: T) => Promise<void>}} ResourceList
 */

/**
 * The list endpoints that page: GET path?page=&page_size=&q=&sort=.
 * @template T
 * @param {string} path
 * @param {AbortSignal} signal
 * @returns {(query: PageQuery) => Promise<Page<T>>}
 */
export function pagedSource(path, signal) {
  return (query) => api.get(path, query, { signal });
}

/**
 * @template T
 * @param {ResourceListOptions<T>} options
 * @returns {ResourceList<T>}
 */
export function resourceList({ columns, manage = true, name = String, form, remove, bulkRemove, rowActions, onChange, ...tableOptions }) {
  /** @param {T} row */
  const enabledOf = (row) => Boolean(/** @type {{enabled?: unknown}} */ (row).enabled);

  /**
   * @param {ToggleSpec<T>} spec
   * @param {T} row
   */
  function toggleCell(spec, row) {
    if (!manage) return badge(enabledOf(row) ? "Enabled" : "Disabled", enabledOf(row) ? "success" : "neutral");
    const label = spec.label(row);
    const what = label.replace(/ enabled$/, "");
    const control = toggleSwitch({
      checked: enabledOf(row),
      label,
      onChange: async (next) => {
        table.clearError();
        try {
          const updated = await spec.save(row, next);
          /** @type {{enabled: boolean}} */ (/** @type {unknown} */ (row)).enabled = updated.enabled;
          setSwitch(control, updated.enabled);
          toast(spec.done ? spec.done(updated, row) : `${what} ${updated.enabled ? "enabled" : "disabled"}.`);
          table.reload({ keepSelection: true });
        } catch (error) {
          setSwitch(control, enabledOf(row));
          table.showError(messageOf(error), spec.failed ? spec.failed(row, next) : `Could not ${next ? "enable" : "disable"} ${what.toLowerCase()}.`);
        }
      },
    });
    return control;
  }

  /** @param {T | null} row */
  async function openForm(row) {
    if (!form) return;
    const saved = await form.open(row);
    if (saved && typeof saved === "object") {
      toast(form.saved(/** @type {T} */ (saved), row));
      table.reload();
      onChange?.();
    }
  }

  /** @param {T} row */
  async function removeRow(row) {
    if (!remove) return;
    const done = await confirmAction(remove.confirm(row));
    if (done) {
      toast(remove.done(row));
      table.reload();
      onChange?.();
    }
  }

  /** @type {Array<Column<T>>} */
  const tableColumns = columns.map((column) => {
    if (!("toggle" in column)) return column;
    const { toggle, ...rest } = column;
    return { ...rest, render: (row) => toggleCell(toggle, row) };
  });
  /** @param {T} row */
  function deleteButton(row) {
    const label = remove?.label ? remove.label(row) : `Delete ${name(row)}`;
    const blocked = remove?.blocked?.(row) || null;
    if (!blocked) return iconButton("trash", label, { kind: "danger", onClick: () => removeRow(row) });
    // Disabled with the reason, rather than refused after a confirmation.
    const btn = iconButton("trash", label, { kind: "danger", disabled: true });
    btn.title = blocked;
    btn.setAttribute("aria-description", blocked);
    return h("span", { class: "blocked-action", title: blocked }, btn);
  }

  const editable = manage && Boolean(form?.edit);
  const removable = manage && Boolean(remove);
  if (rowActions || editable || removable) {
    tableColumns.push({
      id: "actions",
      label: "Actions",
      hideLabel: true,
      className: "col-actions",
      render: (row) => {
        const del = removable && (!remove?.allowed || remove.allowed(row)) ? deleteButton(row) : null;
        if (!rowActions && !editable) return del; // a lone delete button stands by itself
        return h(
          "span",
          { class: "row-actions" },
          rowActions?.(row),
          editable && button("Edit", { kind: "secondary", size: "sm", ariaLabel: `Edit ${name(row)}`, onClick: () => openForm(row) }),
          del,
        );
      },
    });
  }

  const table = dataTable({
    ...tableOptions,
    columns: tableColumns,
    selectable: bulkRemove ? () => manage && (!bulkRemove.allowed || bulkRemove.allowed()) : false,
    selectBlocked: bulkRemove?.blocked,
    bulk: bulkRemove
      ? [
          {
            label: bulkRemove.label || "Delete",
            iconName: "trash",
            danger: true,
            run: async (rows) => {
              const done = await confirmAction(bulkRemove.confirm(rows));
              if (!done) return;
              toast(bulkRemove.done(rows));
              table.reload();
              onChange?.();
            },
          },
        ]
      : [],
  });
  form?.createButton?.addEventListener("click", () => openForm(null));

  return Object.assign(table, { create: () => openForm(null), edit: openForm, remove: removeRow });
}
