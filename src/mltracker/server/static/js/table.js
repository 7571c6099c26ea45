// A table that sorts by any column (click its header) and shows the rows a filter keeps.

import { el } from "./dom.js";

function compare(a, b) {
  const aMissing = a === null || a === undefined || (typeof a === "number" && Number.isNaN(a));
  const bMissing = b === null || b === undefined || (typeof b === "number" && Number.isNaN(b));
  if (aMissing || bMissing) return aMissing === bMissing ? 0 : aMissing ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: "base" });
}

export class DataTable {
  /**
   * columns: [{key, label, title, value(row) (what sorts), cell(row) (what shows),
   * numeric, className}]. options: {sort: {key, desc}, onSort(sort), rowKey(row),
   * rowClass(row), onRow(row) (a click on the row, or Enter), empty: text, ordered: the rows
   * come in their order (a server sorted them: a header click only calls onSort)}. A column
   * with sortable: false has no sorting header. With rowKey, the rows are updated in place:
   * a row of the same key keeps its element, and a cell its element unless what it shows
   * changed.
   */
  constructor(columns, options = {}) {
    this.columns = columns;
    this.options = options;
    this.sort = options.sort || null;
    this.rows = [];
    this.keep = () => true;
    this.head = el("thead");
    this.body = el("tbody");
    this.element = el("div.table-wrap", {}, el("table.data", {}, this.head, this.body));
    this.renderHead();
  }

  setColumns(columns) {
    this.columns = columns;
    this.renderHead();
    this.renderBody();
  }

  setRows(rows) {
    this.rows = rows;
    this.renderBody();
  }

  setFilter(keep) {
    this.keep = keep;
    this.renderBody();
  }

  /** The rows shown, in their order. */
  shownRows() {
    const rows = this.rows.filter((row) => this.keep(row));
    const column = this.sort && this.columns.find((one) => one.key === this.sort.key);
    if (column && !this.options.ordered) {
      const value = column.value || ((row) => row[column.key]);
      const sign = this.sort.desc ? -1 : 1;
      rows.sort((a, b) => {
        const va = value(a);
        const vb = value(b);
        const order = compare(va, vb);
        // missing values stay last whichever the direction
        const missing = va === null || va === undefined || vb === null || vb === undefined;
        return missing ? order : sign * order;
      });
    }
    return rows;
  }

  renderHead() {
    const cells = this.columns.map((column) => {
      if (column.header) return el("th", { className: column.className || "" }, column.header());
      if (column.sortable === false) {
        return el("th", { className: [column.numeric ? "num" : "", column.className || ""].join(" ").trim() },
          column.label);
      }
      const sorted = this.sort && this.sort.key === column.key;
      const arrow = sorted ? (this.sort.desc ? " ▾" : " ▴") : "";
      return el("th", {
        className: [column.numeric ? "num" : "", column.className || "", "sortable"].join(" ").trim(),
        title: column.title || `Sort by ${column.label}`,
        "aria-sort": sorted ? (this.sort.desc ? "descending" : "ascending") : null,
      }, el("button.th-button", {
        type: "button",
        onclick: () => {
          const desc = sorted ? !this.sort.desc : Boolean(column.numeric);
          this.sort = { key: column.key, desc };
          if (this.options.onSort) this.options.onSort(this.sort);
          this.renderHead();
          this.renderBody();
        },
      }, column.label, el("span.arrow", {}, arrow)));
    });
    this.head.replaceChildren(el("tr", {}, cells));
  }

  renderBody() {
    const rows = this.shownRows();
    if (!rows.length) {
      this.body.replaceChildren(el("tr.empty", {}, el("td", { colSpan: this.columns.length },
        this.rows.length ? "No row matches the filter." : this.options.empty || "Nothing yet.")));
      return;
    }
    const rowKey = this.options.rowKey;
    const known = new Map();
    if (rowKey) {
      for (const tr of this.body.children) if (tr.dataset.key !== undefined) known.set(tr.dataset.key, tr);
    }
    const built = rows.map((row) => {
      const fresh = this.renderRow(row);
      const old = rowKey ? known.get(String(rowKey(row))) : undefined;
      if (!old || old.cells.length !== fresh.cells.length) return fresh;
      old.className = fresh.className;
      old.mlRow = row;
      [...fresh.cells].forEach((td, index) => {
        const was = old.cells[index];
        // a form control's state is not in its HTML: such a cell is always the fresh one
        if (was.className !== td.className || was.innerHTML !== td.innerHTML
          || td.querySelector("input, select, textarea")) was.replaceWith(td);
      });
      return old;
    });
    // keep the rows that stay in place where they are: only a row out of order moves
    const same = built.length === this.body.children.length
      && built.every((tr, index) => this.body.children[index] === tr);
    if (!same) this.body.replaceChildren(...built);
  }

  renderRow(row) {
    const onRow = this.options.onRow;
    const tr = el("tr", {
      className: [this.options.rowClass ? this.options.rowClass(row) : "", onRow ? "clickable" : ""]
        .join(" ").trim(),
      dataset: this.options.rowKey ? { key: this.options.rowKey(row) } : {},
      tabIndex: onRow ? 0 : null,
      onclick: onRow ? (event) => {
        if (!event.target.closest("a, button, input")) onRow(event.currentTarget.mlRow);
      } : null,
      onkeydown: onRow ? (event) => {
        if (event.key === "Enter" && event.target === event.currentTarget) onRow(event.currentTarget.mlRow);
      } : null,
    }, this.columns.map((column) => {
      const shown = column.cell ? column.cell(row) : row[column.key];
      return el("td", { className: [column.numeric ? "num" : "", column.className || ""].join(" ").trim() }, shown);
    }));
    tr.mlRow = row;
    return tr;
  }
}
