/* The live board: rows keyed by order, counts per status, gap detection per order. */
(function () {
  "use strict";
  var OF = window.OrderFlow, el = OF.el;
  var root = document.getElementById("board");
  var body = document.getElementById("board-rows");
  var empty = document.getElementById("board-empty");
  var filters = { status: root.dataset.status || "", q: (root.dataset.q || "").toLowerCase() };
  var state = { rows: [], byId: new Map(), counts: {}, watermark: 0, limit: 100, painted: false };
  var socket;

  function matches(row) {
    if (filters.status && row.status !== filters.status) return false;
    if (filters.q && row.number.toLowerCase().indexOf(filters.q) < 0 &&
        row.customer_email.toLowerCase().indexOf(filters.q) < 0) return false;
    return true;
  }

  function bump(status, by) {
    state.counts[status] = Math.max(0, (state.counts[status] || 0) + by);
  }

  function applySnapshot(snapshot) {
    state.rows = snapshot.rows;
    state.byId = new Map(snapshot.rows.map(function (row) { return [row.order_id, row]; }));
    state.counts = snapshot.counts;
    state.watermark = snapshot.watermark;
    state.limit = snapshot.limit;
    render([]);
  }

  /* One projector batch's rows: each carries the status and sequence it had before the
   * batch, so a row that moved several steps at once is told from one whose step we missed. */
  function applyRows(message) {
    var changed = [];
    for (var i = 0; i < message.rows.length; i++) {
      var result = applyRow(message.rows[i]);
      if (result === RESYNC) return socket.resync();
      if (result) changed.push(result);
    }
    render(changed);
  }

  var RESYNC = {};

  /* Apply one row; returns the order id to flash, null, or RESYNC when we missed a step. */
  function applyRow(item) {
    var row = item.row, known = state.byId.get(row.order_id);
    var before = item.previous_sequence;
    if (known) {
      if (row.sequence <= known.sequence) return null;           // stale or repeated
      if (before > known.sequence) return RESYNC;                // we missed one
      if (known.status !== row.status) { bump(known.status, -1); bump(row.status, 1); }
      if (matches(row)) {
        state.rows[state.rows.indexOf(known)] = row;
        state.byId.set(row.order_id, row);
      } else {
        state.rows.splice(state.rows.indexOf(known), 1);
        state.byId.delete(row.order_id);
      }
      return row.order_id;
    }
    if (before === 0) bump(row.status, 1);
    else if (item.previous_status !== row.status) { bump(item.previous_status, -1); bump(row.status, 1); }
    if (!matches(row)) return null;
    var oldest = state.rows[state.rows.length - 1];
    var full = state.rows.length >= state.limit;
    if (full && oldest && row.placed_at < oldest.placed_at) return null;  // below the list
    if (before > 0) return RESYNC;                               // its arrival was missed
    var at = state.rows.findIndex(function (other) { return other.placed_at < row.placed_at; });
    state.rows.splice(at < 0 ? state.rows.length : at, 0, row);
    state.byId.set(row.order_id, row);
    if (state.rows.length > state.limit) state.byId.delete(state.rows.pop().order_id);
    return row.order_id;
  }

  function cells(row) {
    return [
      el("td", { "data-label": "Order" }, el("a", { href: row.url }, row.number)),
      el("td", { "data-label": "Shop" }, row.shop_name),
      el("td", { "data-label": "Customer" }, row.customer_email),
      el("td", { "data-label": "Total", class: "num" }, row.total + " " + row.currency),
      el("td", { "data-label": "Status" }, el("span", { class: "status status-" + row.status }, row.status_label)),
      el("td", { "data-label": "Updated" }, OF.timeElement(row.updated_at)),
    ];
  }

  function render(changed) {
    var existing = new Map();
    body.querySelectorAll("tr[data-order]").forEach(function (tr) { existing.set(tr.dataset.order, tr); });
    state.rows.forEach(function (row, index) {
      var tr = existing.get(row.order_id);
      if (!tr) {
        tr = el("tr", { "data-order": row.order_id });
        if (state.painted) changed.push(row.order_id);
      }
      existing.delete(row.order_id);
      if (tr.dataset.sequence !== String(row.sequence) || tr.dataset.status !== row.status) {
        tr.replaceChildren.apply(tr, cells(row));
        tr.dataset.sequence = String(row.sequence);
        tr.dataset.status = row.status;
      }
      if (changed.indexOf(row.order_id) >= 0) {
        tr.classList.remove("fresh"); void tr.offsetWidth; tr.classList.add("fresh");
      }
      if (body.children[index] !== tr) body.insertBefore(tr, body.children[index] || null);
    });
    existing.forEach(function (tr) { tr.remove(); });
    empty.hidden = state.rows.length > 0;
    document.querySelectorAll("[data-count]").forEach(function (node) {
      var status = node.dataset.count;
      node.textContent = String(status ? (state.counts[status] || 0) :
        Object.keys(state.counts).reduce(function (sum, key) { return sum + state.counts[key]; }, 0));
    });
    state.painted = true;
  }

  applySnapshot(JSON.parse(document.getElementById("board-data").textContent));
  socket = new OF.LiveSocket(root.dataset.socket, function (message) {
    if (message.type === "snapshot") { socket.snapshotArrived(); applySnapshot(message); }
    else if (message.type === "rows") applyRows(message);
    else if (message.type === "heartbeat" && message.watermark !== state.watermark) socket.resync();
  }, document.getElementById("live-indicator"));
})();
