// A paged table backed by the API: search, sort, paging, selection, loading, empty and
// error states, with its state kept in the address.

import { isAbortError } from "../api.js";
import { append, clear, h, icon, plural, uid } from "../dom.js";
import { alertBox, messageOf } from "./alert.js";
import { button, iconButton } from "./buttons.js";
import { emptyState } from "./placeholders.js";

/** @typedef {import("../dom.js").Child} Child */
/** @typedef {import("../api.js").PageQuery} PageQuery */
/**
 * @template T
 * @typedef {import("../api.js").Page<T>} Page
 */

/**
 * @template T
 * @typedef {object} Column
 * @property {string} id
 * @property {string} label
 * @property {(row: T, table: DataTable<T>) => Child} render
 * @property {string} [sort] the sort key this column's header sorts by
 * @property {boolean} [descFirst] the first click sorts descending
 * @property {string} [className]
 * @property {string} [headClass]
 * @property {boolean} [hideLabel] the header says it to screen readers only
 */

/**
 * @template T
 * @typedef {object} BulkAction an action on the selected rows
 * @property {string} label
 * @property {string} [iconName]
 * @property {boolean} [danger]
 * @property {(rows: T[], table: DataTable<T>) => unknown} run
 */

/** @typedef {{q: string, sort: string | null, page: number, pageSize: number | null}} AddressState */

/**
 * @template T
 * @typedef {object} TableState
 * @property {string} q
 * @property {string | null} sort
 * @property {number} page
 * @property {number} pageSize
 * @property {T[]} items
 * @property {number} total
 * @property {boolean} loaded
 * @property {Map<unknown, T>} selected
 */

/**
 * @template T
 * @typedef {object} DataTableOptions
 * @property {string} label the table's accessible name
 * @property {Array<Column<T>>} columns
 * @property {(query: PageQuery) => Promise<Page<T>>} load
 * @property {(row: T) => unknown} [rowKey]
 * @property {(row: T) => string} [rowLabel] names a row in its checkbox's label
 * @property {boolean | (() => boolean)} [selectable] rows get check boxes; a function is asked at each render (whether the user may act on them may be known only later)
 * @property {(row: T) => string | null} [selectBlocked] why a row cannot be selected (its box is disabled with this reason), or null
 * @property {{label: string, placeholder?: string}} [search]
 * @property {string | null} [defaultSort]
 * @property {number} [pageSize]
 * @property {Child[]} [toolbar]
 * @property {Array<BulkAction<T>>} [bulk]
 * @property {() => Node} [empty]
 * @property {[string, string]} [noun] one and many: ["image", "images"]
 * @property {string | null} [urlKey] keep the state in the address, under this prefix ("" for none)
 * @property {(result: Page<T>, state: TableState<T>) => void} [onLoaded]
 * @property {AbortSignal} [signal]
 * @property {boolean} [compact]
 */

/**
 * @template T
 * @typedef {object} DataTable
 * @property {HTMLDivElement} el
 * @property {(options?: {keepSelection?: boolean}) => Promise<void>} reload
 * @property {(message: Child, title?: Child) => void} showError errors of row actions, above the table
 * @property {() => void} clearError
 * @property {number} total
 * @property {T[]} items
 * @property {() => void} clearSelection
 */

const PAGE_SIZES = [10, 25, 50, 100];

/**
 * Table state kept in the address (?q=&sort=&page=&size=), so a reload shows the same rows.
 * @param {string} prefix
 */
function urlState(prefix) {
  /** @param {string} name */
  const key = (name) => (prefix ? `${prefix}_${name}` : name);
  return {
    /** @returns {AddressState} */
    read() {
      const params = new URLSearchParams(location.search);
      return {
        q: params.get(key("q")) || "",
        sort: params.get(key("sort")),
        page: Number(params.get(key("page"))) || 1,
        pageSize: Number(params.get(key("size"))) || null,
      };
    },
    /**
     * @param {{q: string, sort: string | null, page: number, pageSize: number}} state
     * @param {{sort: string | null, pageSize: number}} defaults
     */
    write(state, defaults) {
      const params = new URLSearchParams(location.search);
      /**
       * @param {string} name
       * @param {string | number | null} value
       * @param {string | number | null} fallback
       */
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
 * @template T
 * @param {DataTableOptions<T>} options
 * @returns {DataTable<T>}
 */
export function dataTable({
  label,
  columns,
  load,
  rowKey,
  rowLabel,
  selectable: selectableOption = false,
  selectBlocked,
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
  const selectable = () => (typeof selectableOption === "function" ? selectableOption() : selectableOption);
  /** @type {AddressState} */
  const initial = url ? url.read() : { q: "", sort: null, page: 1, pageSize: null };
  /** @type {TableState<T>} */
  const state = {
    q: initial.q,
    sort: initial.sort || defaultSort,
    page: initial.page,
    pageSize: initial.pageSize !== null && PAGE_SIZES.includes(initial.pageSize) ? initial.pageSize : defaultPageSize,
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
      if (rows.length) await action.run(rows, self);
    });
    return btn;
  });

  /** @type {HTMLInputElement | null} */
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
    const input = searchInput;
    let timer = 0;
    input.addEventListener("input", () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        state.q = input.value.trim();
        state.page = 1;
        refresh();
      }, 250);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        window.clearTimeout(timer);
        state.q = input.value.trim();
        state.page = 1;
        refresh();
      }
    });
    toolbarLeft.append(
      h("div", { class: "search" }, h("label", { for: id, class: "visually-hidden" }, search.label), icon("search", "icon search-icon"), searchInput),
    );
  }
  const bulkArea = bulk.length ? h("div", { class: "bulk" }, bulkButtons, selectionInfo) : null;
  if (bulkArea) toolbarLeft.append(bulkArea);
  // On narrow screens the table's head (and its sort buttons) is hidden: this select sorts instead.
  const sortable = columns.filter((column) => column.sort);
  /** @type {HTMLSelectElement | null} */
  let sortSelect = null;
  if (sortable.length) {
    const id = uid("sort");
    sortSelect = h(
      "select",
      { id, class: "input input-sm" },
      sortable.flatMap((column) => {
        const key = /** @type {string} */ (column.sort);
        const both = [h("option", { value: key }, `${column.label} ↑`), h("option", { value: `-${key}` }, `${column.label} ↓`)];
        return column.descFirst ? both.reverse() : both;
      }),
    );
    const select = sortSelect;
    select.addEventListener("change", () => {
      state.sort = select.value;
      state.page = 1;
      refresh();
    });
    toolbarLeft.append(h("label", { for: id, class: "sort-narrow" }, "Sort by", select));
  }
  const hasToolbar = search || bulk.length || toolbar.length || sortable.length;
  const onlySort = !search && !bulk.length && !toolbar.length;
  const toolbarEl = hasToolbar ? h("div", { class: ["toolbar", onlySort && "toolbar-narrow-only"] }, toolbarLeft, h("div", { class: "toolbar-right" }, toolbar)) : null;

  const selectAll = selectableOption
    ? h("input", { type: "checkbox", class: "checkbox", "aria-label": `Select all ${noun[1]} on this page` })
    : null;
  selectAll?.addEventListener("change", () => {
    if (selectAll.checked) state.items.filter((row) => !selectBlocked?.(row)).forEach((row) => state.selected.set(rowKey?.(row), row));
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

  /** whether the head was last drawn with the select column (see renderRows) */
  let headSelectable = false;

  function renderHead() {
    clear(headRow);
    headSelectable = selectable();
    if (sortSelect) {
      if (state.sort && [...sortSelect.options].some((option) => option.value === state.sort)) sortSelect.value = state.sort;
      else sortSelect.selectedIndex = -1;
    }
    if (bulkArea) bulkArea.hidden = !selectable();
    if (selectable()) headRow.append(h("th", { class: "col-select", scope: "col" }, selectAll));
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
        const key = column.sort;
        sortButton.addEventListener("click", () => {
          if (active) state.sort = desc ? key : `-${key}`;
          else state.sort = column.descFirst ? `-${key}` : key;
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
          selectable() && h("td", {}),
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
      const choosable = state.items.filter((row) => !selectBlocked?.(row)).length;
      selectAll.checked = count > 0 && count === choosable;
      selectAll.indeterminate = count > 0 && count < choosable;
      selectAll.disabled = choosable === 0;
    }
  }

  function renderRows() {
    // Whether rows may be selected can become known while the page loads (the user's
    // permissions arrive later): the head follows, or its columns sit off their cells.
    if (selectable() !== headSelectable) renderHead();
    clear(tbody);
    for (const row of state.items) {
      const key = rowKey ? rowKey(row) : null;
      const tr = h("tr", { class: state.selected.has(key) ? "is-selected" : null });
      if (selectable()) {
        const blocked = selectBlocked?.(row) || null;
        const box = h("input", {
          type: "checkbox",
          class: "checkbox",
          checked: state.selected.has(key),
          disabled: Boolean(blocked),
          title: blocked,
          "aria-label": `Select ${rowLabel ? rowLabel(row) : key}`,
          "aria-description": blocked,
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
        tr.append(h("td", { class: column.className, "data-label": column.label }, column.render(row, self)));
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

  /** @param {number} page */
  function go(page) {
    state.page = page;
    refresh();
  }

  /** @param {{keepSelection?: boolean}} [options] */
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
      if (id !== requestId || isAbortError(error) || signal?.aborted) return;
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
                if (!searchInput) return;
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
    const active = document.activeElement;
    const focused = active && tbody.contains(active) ? active.getAttribute("aria-label") : null;
    renderRows();
    if (focused) {
      const again = [...tbody.querySelectorAll("[aria-label]")].find((el) => el.getAttribute("aria-label") === focused);
      /** @type {HTMLElement | undefined} */ (again)?.focus();
    }
    renderPager();
    onLoaded?.(result, state);
  }

  /**
   * Errors from row actions go here, next to the table they concern.
   * @param {Child} message
   * @param {Child} [title]
   */
  function showError(message, title) {
    clear(errorArea, alertBox(message, { title }));
    errorArea.scrollIntoView({ block: "nearest" });
  }

  /** @type {DataTable<T>} */
  const self = {
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
  return self;
}
