/* The live board: rows keyed by order, counts per status and per work queue, gap detection
 * per order, paging.
 *
 * Each pushed row names the work queues it is in now and was in before the batch
 * (tracking/queues.py), so the queue counts move with the pushes alone. A count no push can
 * tell (stuck work) comes with each heartbeat.
 *
 * Page 1 is the newest orders: a new one appears at the top. A later page is anchored at
 * the moment it was first shown (the socket's ``until``): a new order does not push its
 * rows down, it is counted in the "N new orders — back to the newest" notice instead. */
(function () {
  "use strict";
  var OF = window.OrderFlow, el = OF.el;
  var root = document.getElementById("board");
  var body = document.getElementById("board-rows");
  var empty = document.getElementById("board-empty");
  var range = document.getElementById("board-range");
  var meta = document.getElementById("board-meta");
  var newer = document.getElementById("board-newer");
  var paging = document.getElementById("board-paging");
  var filters = {
    status: root.dataset.status || "", queue: root.dataset.queue || "",
    q: (root.dataset.q || "").toLowerCase(),
  };
  var state = {
    rows: [], byId: new Map(), counts: {}, queues: {}, watermark: 0, limit: 50, page: null, painted: false,
  };
  var socket;

  /* The server's search (tracking.selectors.board_search): a prefix of any searched field. */
  var SEARCHED = ["number", "customer_name", "customer_email", "tracking_number"];

  function matchesText(row) {
    if (!filters.q) return true;
    return SEARCHED.some(function (name) {
      return (row[name] || "").toLowerCase().indexOf(filters.q) === 0;
    });
  }

  function matchesStatus(status) { return !filters.status || status === filters.status; }

  function matchesQueue(queues) { return !filters.queue || (queues || []).indexOf(filters.queue) >= 0; }

  function matches(row) { return matchesStatus(row.status) && matchesQueue(row.queues) && matchesText(row); }

  function bump(status, by) {
    state.counts[status] = Math.max(0, (state.counts[status] || 0) + by);
  }

  /* A row left the queues it is no longer in and joined the ones it is now in. */
  function moveQueues(before, after) {
    before.forEach(function (slug) {
      if (after.indexOf(slug) < 0) state.queues[slug] = Math.max(0, (state.queues[slug] || 0) - 1);
    });
    after.forEach(function (slug) {
      if (before.indexOf(slug) < 0) state.queues[slug] = (state.queues[slug] || 0) + 1;
    });
  }

  function later() { return state.page.number > 1; }

  function applySnapshot(snapshot) {
    state.rows = snapshot.rows;
    state.byId = new Map(snapshot.rows.map(function (row) { return [row.order_id, row]; }));
    state.counts = snapshot.counts;
    state.queues = Object.assign({}, snapshot.queues);
    state.watermark = snapshot.watermark;
    state.limit = snapshot.limit;
    state.page = Object.assign({}, snapshot.page);
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
    // a push that arrives after a snapshot holding it: the counts and totals have it already
    // (a row not on this page has no sequence here to tell it by)
    if (item.entry && item.entry <= state.watermark) return null;
    // a push of the previous release names no queues: only a snapshot can count them
    if (!row.queues || (!known && before > 0 && !item.previous_queues)) return RESYNC;
    if (known) {
      if (row.sequence <= known.sequence) return null;           // stale or repeated
      if (before > known.sequence) return RESYNC;                // we missed one
      if (known.status !== row.status) { bump(known.status, -1); bump(row.status, 1); }
      moveQueues(known.queues || [], row.queues);
      if (matches(row)) {
        state.rows[state.rows.indexOf(known)] = row;
        state.byId.set(row.order_id, row);
      } else {
        state.rows.splice(state.rows.indexOf(known), 1);
        state.byId.delete(row.order_id);
        state.page.total = Math.max(0, state.page.total - 1);
      }
      return row.order_id;
    }
    if (before === 0) bump(row.status, 1);
    else if (item.previous_status !== row.status) { bump(item.previous_status, -1); bump(row.status, 1); }
    var previousQueues = before > 0 ? item.previous_queues : [];
    moveQueues(previousQueues, row.queues);
    var now = matches(row);
    var was = before > 0 && matchesStatus(item.previous_status) && matchesQueue(previousQueues) &&
      matchesText(row);
    if (before === 0 && now && later()) { state.page.newer += 1; return null; }  // not under the user's eyes
    if (now && !was) state.page.total += 1;
    else if (was && !now) state.page.total = Math.max(0, state.page.total - 1);
    if (!now) return null;
    if (later()) return null;  // entered the filter on some page: the next heartbeat resyncs
    var oldest = state.rows[state.rows.length - 1];
    var full = state.rows.length >= state.limit;
    if (full && oldest && row.placed_at < oldest.placed_at) return null;  // below the list
    if (was) return RESYNC;                                      // its arrival was missed
    var at = state.rows.findIndex(function (other) { return other.placed_at < row.placed_at; });
    state.rows.splice(at < 0 ? state.rows.length : at, 0, row);
    state.byId.set(row.order_id, row);
    if (state.rows.length > state.limit) state.byId.delete(state.rows.pop().order_id);
    return row.order_id;
  }

  /* The columns' names as the page's header words them (the reader's language). */
  var LABELS = Array.prototype.map.call(
    document.querySelectorAll("#board thead th"), function (th) { return th.textContent; });

  /* The page's words for `name`, its {braced} names filled in from `values`. */
  function words(node, name, values) {
    return node.getAttribute("data-text-" + name).replace(/\{(\w+)\}/g, function (_, key) {
      return String(values[key]);
    });
  }

  function cells(row) {
    return [
      el("td", { "data-label": LABELS[0] }, el("span", { class: "stack" },
        el("a", { href: row.url }, row.number),
        row.tracking_number ? el("span", { class: "sub" }, row.tracking_number) : null)),
      el("td", { "data-label": LABELS[1] }, row.shop_name),
      el("td", { "data-label": LABELS[2] }, el("span", { class: "stack" },
        row.customer_name ? el("span", { class: "sub-lead" }, row.customer_name) : null,
        el("span", { class: "sub" }, row.customer_email))),
      el("td", { "data-label": LABELS[3], class: "num" }, row.total + " " + row.currency),
      el("td", { "data-label": LABELS[4] }, el.apply(null, [
        "span", { class: "stack" },
        el("span", { class: "status status-" + row.status }, row.status_label),
        row.delivery_issue ? el("span", { class: "sub issue" }, row.delivery_issue_label) : null,
      ].concat((row.returns || []).map(function (known) {   // each open return, server-worded
        return el("span", { class: "sub return", "data-return": known.number }, known.label);
      })))),
      el("td", { "data-label": LABELS[5] }, OF.timeElement(row.updated_at)),
    ];
  }

  function pageHref(number) {
    var query = new URLSearchParams(paging.dataset.query || "");
    if (number > 1) query.set("page", String(number));
    var text = query.toString();
    return text ? "?" + text : window.location.pathname;
  }

  /* "Showing 51–100 of 535", the links, and the notice, from the page's live numbers. */
  function renderPaging() {
    var page = state.page;
    page.pages = Math.max(1, Math.ceil(page.total / page.size));
    page.first = state.rows.length ? (page.number - 1) * page.size + 1 : 0;
    page.last = state.rows.length ? page.first + state.rows.length - 1 : 0;
    range.textContent = page.total
      ? words(meta, "range", page) + (page.pages > 1 ? words(meta, "pages", page) : "")
      : words(meta, "none", page);
    var targets = {
      first: [1, page.number > 1], previous: [page.number - 1, page.number > 1],
      next: [page.number + 1, page.number < page.pages], last: [page.pages, page.number < page.pages],
    };
    paging.querySelectorAll("a[data-rel]").forEach(function (link) {
      var target = targets[link.dataset.rel];
      if (target[1]) { link.setAttribute("href", pageHref(target[0])); link.removeAttribute("aria-disabled"); }
      else { link.removeAttribute("href"); link.setAttribute("aria-disabled", "true"); }
    });
    newer.hidden = !(later() && page.newer > 0);
    newer.querySelector("[data-newer]").textContent =
      words(meta, page.newer === 1 ? "one" : "other", { count: page.newer });
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
    renderQueueCounts();
    renderPaging();
    state.painted = true;
  }

  function renderQueueCounts() {
    document.querySelectorAll("[data-queue-count]").forEach(function (node) {
      node.textContent = String(state.queues[node.dataset.queueCount] || 0);
    });
  }

  /* On a phone the filter folds behind a button, so the first screen shows the orders. */
  function foldFilters() {
    var toggle = document.getElementById("filter-toggle");
    var form = document.getElementById("board-filters");
    var phone = window.matchMedia("(max-width: 40rem)");
    function apply() {
      var open = toggle.getAttribute("aria-expanded") === "true";
      toggle.hidden = !phone.matches;
      form.hidden = phone.matches && !open;
    }
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      apply();
      if (open) document.getElementById("f-q").focus();
    });
    phone.addEventListener("change", apply);
    apply();
  }

  foldFilters();
  applySnapshot(JSON.parse(document.getElementById("board-data").textContent));
  socket = new OF.LiveSocket(root.dataset.socket, function (message) {
    if (message.type === "snapshot") { socket.snapshotArrived(); applySnapshot(message); }
    else if (message.type === "rows") applyRows(message);
    else if (message.type === "heartbeat") {
      if (message.queues) { Object.assign(state.queues, message.queues); renderQueueCounts(); }
      if (message.watermark !== state.watermark) socket.resync();
    }
  }, document.getElementById("live-indicator"));
})();
