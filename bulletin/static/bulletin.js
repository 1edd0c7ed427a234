/* pps bulletin: filtering, sorting and copy buttons. The pages work without this file; it
   only adds controls. No data is ever inserted as markup: text only (textContent). */
(function () {
  "use strict";

  function rowsOf(table) {
    return Array.prototype.slice.call(table.tBodies[0] ? table.tBodies[0].rows : []);
  }

  function setUpFilter(box) {
    var table = document.getElementById(box.getAttribute("data-table"));
    if (!table) { return; }
    var text = box.querySelector('[data-filter="text"]');
    var state = box.querySelector('[data-filter="state"]');
    var status = document.createElement("p");
    status.className = "filter-status";
    status.setAttribute("role", "status");
    box.appendChild(status);
    function apply() {
      var want = (text.value || "").trim().toLowerCase();
      var which = state.value;
      var shown = 0;
      var rows = rowsOf(table);
      rows.forEach(function (row) {
        var head = row.cells[0] ? row.cells[0].textContent.toLowerCase() : "";
        var okText = !want || head.indexOf(want) !== -1;
        var okState = !which || row.getAttribute("data-state") === which ||
          Array.prototype.some.call(row.querySelectorAll("b, .state"), function (badge) {
            return badge.textContent === which;
          });
        row.hidden = !(okText && okState);
        if (!row.hidden) { shown += 1; }
      });
      status.textContent = shown + " of " + rows.length + " rows shown";
    }
    text.addEventListener("input", apply);
    state.addEventListener("change", apply);
    box.hidden = false;
  }

  function cellKey(row, i) {
    var cell = row.cells[i];
    if (!cell) { return ""; }
    var sortKey = cell.getAttribute("data-sort");
    return sortKey !== null ? sortKey : cell.textContent.trim().toLowerCase();
  }

  function compare(a, b) {
    var na = parseFloat(a), nb = parseFloat(b);
    if (!isNaN(na) && !isNaN(nb) && String(na) === a && String(nb) === b) { return na - nb; }
    return a < b ? -1 : a > b ? 1 : 0;
  }

  function setUpSort(table) {
    var head = table.tHead && table.tHead.rows[0];
    if (!head) { return; }
    Array.prototype.forEach.call(head.cells, function (th, i) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(button);
      th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        var up = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(head.cells, function (other) {
          other.setAttribute("aria-sort", "none");
        });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        var body = table.tBodies[0];
        rowsOf(table).sort(function (a, b) {
          var c = compare(cellKey(a, i), cellKey(b, i));
          return up ? c : -c;
        }).forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  function setUpCopy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var note = document.createElement("span");
    note.className = "copied";
    note.setAttribute("role", "status");
    button.insertAdjacentElement("afterend", note);
    button.addEventListener("click", function () {
      var text = source.textContent;
      function done() { note.textContent = "Copied."; }
      function select() {
        var range = document.createRange();
        range.selectNodeContents(source);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        note.textContent = "Selected: press Ctrl+C to copy.";
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, select);
      } else {
        select();
      }
    });
    button.hidden = false;
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".filter[data-table]"), setUpFilter);
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), setUpSort);
    Array.prototype.forEach.call(document.querySelectorAll("button.copy[data-copy]"), setUpCopy);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
