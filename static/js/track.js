/* The customer's tracking page: its summary, parcel, returns and timeline, live.
 *
 * Every word comes from the server, in the page's language: the page's first view is
 * rendered there, and each push is rendered by the page's socket in the same language
 * (tracking/public_page.py), so this script only places text. Times are shown again in
 * the reader's own time zone, in the page's language. */
(function () {
  "use strict";
  var OF = window.OrderFlow, el = OF.el;
  var root = document.getElementById("timeline");
  var list = document.getElementById("timeline-entries");
  var language = document.documentElement.lang || undefined;
  var timeFormat = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" });
  var state = { steps: [], sequence: 0, watermark: 0 };
  var socket;

  function timeElement(iso, fallback) {
    var node = document.createElement("time"), date = new Date(iso);
    node.setAttribute("datetime", iso);
    node.textContent = isNaN(date.getTime()) ? (fallback || iso) : timeFormat.format(date);
    return node;
  }

  function renderView(view) {
    document.querySelectorAll("[data-live]").forEach(function (node) {
      var field = node.dataset.live, value = view[field];
      if (value === undefined) return;
      if (field === "updated_at") { node.replaceChildren(timeElement(value, view.updated_text)); return; }
      node.textContent = value || node.dataset.empty || "";
      if (field === "status_label") node.className = "status big status-" + view.status;
    });
    var summary = document.getElementById("summary");
    summary.className = "card hero tone-" + view.tone;
    summary.dataset.tone = view.tone;
    document.getElementById("sentences").replaceChildren.apply(
      document.getElementById("sentences"),
      view.sentences.map(function (sentence) { return el("p", {}, sentence); }));
    document.getElementById("next").hidden = !view.next_step;
    document.getElementById("parcel").hidden = !view.parcel_shown;
    renderParcels(view.parcels || []);
    renderReturns(view.returns || []);
  }

  /* Every return of the order, each with where it stands, as the server words it. */
  function renderReturns(returns) {
    var returnList = document.getElementById("return-list");
    document.getElementById("returns").hidden = !returns.length;
    returnList.replaceChildren.apply(returnList, returns.map(function (known) {
      return el("li", { class: "return", "data-return": known.number },
        el("strong", {}, known.title), " · ",
        el("span", { class: "status status-return_" + known.status }, known.status_label),
        known.contents ? el("br", {}) : null,
        known.contents ? el("span", { class: "muted" }, known.contents) : null,
        known.sentence ? el("br", {}) : null,
        known.sentence || null);
    }));
  }

  /* The parcels of an order that left in several, as the server words them. */
  function renderParcels(parcels) {
    var parcelList = document.getElementById("parcel-list");
    document.getElementById("parcels").hidden = parcels.length < 2;
    parcelList.replaceChildren.apply(parcelList, parcels.map(function (parcel) {
      return el("li", { class: "parcel" },
        el("strong", { class: "status status-" + parcel.status }, parcel.status_label),
        " · " + parcel.carrier + " ", el("span", { class: "sku" }, parcel.tracking_number),
        parcel.eta_text ? " · " : null,
        parcel.eta_text ? el("span", { class: "eta" }, parcel.eta_text) : null,
        parcel.contents ? el("br", {}) : null,
        parcel.contents ? el("span", { class: "muted" }, parcel.contents) : null);
    }));
  }

  function renderSteps(fresh) {
    list.replaceChildren.apply(list, state.steps.map(function (step) {
      return el("li", { class: fresh && fresh.indexOf(step.sequence) >= 0 ? "fresh" : null },
        el("span", { class: "when" }, timeElement(step.occurred_at, step.when)), " ",
        el("span", { class: "what" }, step.label),
        step.location ? el("span", { class: "note" }, step.location_text) : null,
        step.note ? el("span", { class: "note" }, step.note) : null);
    }));
    document.getElementById("timeline-empty").hidden = state.steps.length > 0;
  }

  function applySnapshot(snapshot) {
    state.steps = snapshot.steps;
    state.sequence = snapshot.view.sequence;
    state.watermark = snapshot.watermark;
    renderView(snapshot.view);
    renderSteps(null);
  }

  /* One projector batch's public steps of this order, and the order's view after it. */
  function applySteps(message) {
    var fresh = [];
    for (var i = 0; i < message.steps.length; i++) {
      var step = message.steps[i];
      if (step.sequence <= state.sequence) continue;                    // stale or repeated
      if (step.sequence > state.sequence + 1) return socket.resync();   // we missed one
      state.sequence = step.sequence;
      state.steps.push(step);
      fresh.push(step.sequence);
    }
    renderView(message.view);
    if (!fresh.length) return;
    state.steps.sort(function (a, b) { return a.occurred_at < b.occurred_at ? -1 : a.occurred_at > b.occurred_at ? 1 : 0; });
    renderSteps(fresh);
  }

  applySnapshot(JSON.parse(document.getElementById("track-data").textContent));
  socket = new OF.LiveSocket(root.dataset.socket, function (message) {
    if (message.type === "snapshot") { socket.snapshotArrived(); applySnapshot(message); }
    else if (message.type === "steps") applySteps(message);
    else if (message.type === "heartbeat" && message.watermark !== state.watermark) socket.resync();
  }, document.getElementById("live-indicator"));
})();
