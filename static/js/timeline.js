/* One order's live status and timeline (the staff order page and the public page).
 *
 * The staff page's other blocks (summary, customer, payment and invoices, notes, e-mails,
 * the customer's other orders) follow the same pushes: each push that brings something
 * new, a note, or a snapshot (on connect, after a resync) makes the page fetch the blocks
 * rendered by the server (tracking.views.order_page_blocks) and swap each in by its
 * data-block. One fetch at a time: pushes that arrive while one is in flight are coalesced
 * into one more fetch after it.
 *
 * A block the user is working in is never swapped from under them: one that holds the
 * focus or a field changed and not sent keeps its node (a swap would drop the focus or the
 * text). Its fresh version waits, the block says "Updated — refresh this block", and it is
 * swapped in when the user asks or leaves the block untouched. While a pointer is pressed
 * nothing is swapped or added at all: any block that grew above the press would move the
 * button from under it, and the release would miss it (no click). */
(function () {
  "use strict";
  var OF = window.OrderFlow, el = OF.el;
  var root = document.getElementById("timeline");
  var list = document.getElementById("timeline-entries");
  var staff = root.dataset.mode === "staff";
  var actionsByStatus = staff ? JSON.parse(document.getElementById("actions-data").textContent) : {};
  var state = { entries: [], keys: new Set(), sequence: 0, watermark: 0 };
  var socket;
  var blocksRoot = staff ? document.getElementById("order-blocks") : null;
  var blocks = { inFlight: false, again: false, fetches: 0 };
  var waiting = new Map();  // block name -> its fresh node, held while the user works in it
  var pressed = false;      // a pointer is down: a click is under way

  /* The page's words for `name` (the reader's language), {braced} names filled from `values`. */
  function words(name, values) {
    return (root.getAttribute("data-text-" + name) || "").replace(/\{(\w+)\}/g, function (_, key) { return String(values ? values[key] : ""); });
  }

  /* A field whose value differs from the one the server rendered. */
  function changed(field) {
    if (field.type === "hidden" || field.type === "submit" || field.type === "button") return false;
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    if (field.tagName === "SELECT") {
      return Array.prototype.some.call(field.options, function (option) {
        return option.selected !== option.defaultSelected;
      });
    }
    return field.value !== field.defaultValue;
  }

  /* The user is working in this block: swapping it now would lose what they are doing. */
  function inUse(block) {
    var active = document.activeElement;
    if (active && active !== document.body && block.contains(active)) return true;
    return Array.prototype.some.call(block.querySelectorAll("input, textarea, select"), changed);
  }

  function swap(current, fresh) {
    var imported = document.importNode(fresh, true);
    OF.localizeTimes(imported);
    current.replaceWith(imported);
    return imported;
  }

  /* Say in the block that a newer version waits, with a button to take it. */
  function markWaiting(block) {
    if (block.querySelector(".block-waiting")) return;
    var button = el("button", { type: "button", class: "link" }, words("refresh"));
    button.addEventListener("click", function () {
      var fresh = waiting.get(block.dataset.block);
      if (!fresh || !block.isConnected) return;
      waiting.delete(block.dataset.block);
      var imported = swap(block, fresh);
      imported.setAttribute("tabindex", "-1");  // keep the keyboard where it was
      imported.focus();
    });
    var notice = el("p", { class: "block-waiting notice small", role: "status" }, words("updated") + " ", button);
    var heading = block.querySelector("h2");
    if (heading) heading.after(notice); else block.prepend(notice);
  }

  /* Swap in each fresh block the user is not working in; tell the others one waits. */
  function applyWaiting() {
    if (pressed) return;
    waiting.forEach(function (fresh, name) {
      var current = document.querySelector('[data-block="' + name + '"]');
      if (!current) { waiting.delete(name); return; }
      if (inUse(current)) { markWaiting(current); return; }
      waiting.delete(name);
      swap(current, fresh);
    });
  }

  function released() {
    // after the click this press makes has been dispatched (it comes in the same task)
    setTimeout(function () { pressed = false; applyWaiting(); }, 0);
  }
  document.addEventListener("pointerdown", function () { pressed = true; }, true);
  document.addEventListener("pointerup", released, true);
  document.addEventListener("pointercancel", released, true);
  document.addEventListener("focusout", function () { setTimeout(applyWaiting, 0); });

  /* Fetch the server-rendered blocks and swap them in; coalesce while one is in flight. */
  function refreshBlocks() {
    if (!blocksRoot) return;
    if (blocks.inFlight) { blocks.again = true; return; }
    blocks.inFlight = true;
    blocks.fetches += 1;
    fetch(blocksRoot.dataset.blocksUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        // a login page (the session ended) is no fragment: the socket says so on the page
        if (!response.ok || response.redirected) throw new Error("blocks: " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        fresh.querySelectorAll("[data-block]").forEach(function (node) {
          waiting.set(node.dataset.block, node);
        });
        applyWaiting();
        document.body.setAttribute("data-blocks-fetched", String(blocks.fetches));
      })
      .catch(function () { /* the next push or resync fetches again */ })
      .then(function () {
        blocks.inFlight = false;
        if (blocks.again) { blocks.again = false; refreshBlocks(); }
      });
  }

  function key(entry) { return staff ? "e" + entry.id : "s" + entry.sequence; }

  function applySnapshot(snapshot) {
    state.entries = snapshot.entries;
    state.keys = new Set(snapshot.entries.map(key));
    state.sequence = snapshot.order.sequence;
    state.watermark = snapshot.watermark;
    renderOrder(snapshot.order);
    renderEntries(null);
  }

  /* One projector batch's entries of this order, in order, and the order's status after. */
  function applyEntries(message) {
    var fresh = [], moved = false;
    for (var i = 0; i < message.entries.length; i++) {
      var entry = message.entries[i];
      if (!staff || entry.aggregate === "order") {
        if (entry.sequence <= state.sequence) continue;             // stale or repeated
        if (entry.sequence > state.sequence + 1) return socket.resync();  // we missed one
        state.sequence = entry.sequence;
        moved = true;
      } else if (state.keys.has(key(entry))) {
        continue;
      }
      state.entries.push(entry);
      state.keys.add(key(entry));
      fresh.push(key(entry));
    }
    if (moved) renderOrder(message.order);
    if (!fresh.length) return;
    refreshBlocks();
    state.entries.sort(function (a, b) { return a.occurred_at < b.occurred_at ? -1 : a.occurred_at > b.occurred_at ? 1 : 0; });
    renderEntries(fresh);
  }

  function renderOrder(order) {
    document.querySelectorAll("[data-live]").forEach(function (node) {
      var field = node.dataset.live, value = order[field];
      if (value === undefined) return;
      if (field === "updated_at") { node.replaceChildren(OF.timeElement(value)); return; }
      node.textContent = value || node.dataset.empty || "";
      if (field === "status_label") node.className = "status status-" + order.status;
    });
    if (staff) {
      var allowed = actionsByStatus[order.status] || [];
      document.querySelectorAll("[data-action]").forEach(function (node) {
        node.hidden = allowed.indexOf(node.dataset.action) < 0;
      });
      var none = document.getElementById("no-actions");
      if (none) none.hidden = allowed.length > 0;
    }
  }

  function renderEntries(fresh) {
    list.replaceChildren.apply(list, state.entries.map(function (entry) {
      var item = el("li", { class: fresh && fresh.indexOf(key(entry)) >= 0 ? "fresh" : null },
        el("span", { class: "when" }, OF.timeElement(entry.occurred_at)),
        el("span", { class: "what" }, entry.label),
        staff ? el("span", { class: "source" }, entry.actor || entry.source) : null,
        staff && entry.tracking_number ? el("span", { class: "note parcel" }, words("parcel", entry)) : null,
        entry.location ? el("span", { class: "note" }, words("location", entry)) : null,
        entry.note ? el("span", { class: "note" }, entry.note) : null);
      return item;
    }));
    var empty = document.getElementById("timeline-empty");
    if (empty) empty.hidden = state.entries.length > 0;
  }

  applySnapshot(JSON.parse(document.getElementById("timeline-data").textContent));
  socket = new OF.LiveSocket(root.dataset.socket, function (message) {
    if (message.type === "snapshot") { socket.snapshotArrived(); applySnapshot(message); refreshBlocks(); }
    else if (message.type === "entries") applyEntries(message);
    else if (message.type === "notes") refreshBlocks();
    else if (message.type === "heartbeat" && message.watermark !== state.watermark) socket.resync();
  }, document.getElementById("live-indicator"));
})();
