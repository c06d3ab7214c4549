/* OrderFlow live pages: one WebSocket with reconnect and backoff, and local times.
 *
 * The server sends a snapshot on connect and when asked ({"type": "resync"}), then
 * pushes and heartbeats. Pushes can be lost (channel layers drop messages by design),
 * so pages resync whenever a sequence skips or a heartbeat says they are behind. */
(function () {
  "use strict";

  var timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

  function formatTime(iso) {
    var date = new Date(iso);
    return isNaN(date.getTime()) ? iso : timeFormat.format(date);
  }

  /* Show every <time datetime> in the viewer's own time zone. */
  function localizeTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (node) {
      node.textContent = formatTime(node.getAttribute("datetime"));
    });
  }

  function timeElement(iso) {
    var node = document.createElement("time");
    node.setAttribute("datetime", iso);
    node.textContent = formatTime(iso);
    return node;
  }

  /* Build an element: el("td", {class: "num", "data-label": "Total"}, "12.00", child…) */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (attrs[name] !== null && attrs[name] !== undefined) node.setAttribute(name, attrs[name]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === "") continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  var STATES = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…" };

  function LiveSocket(path, onMessage, indicator) {
    this.path = path;
    this.onMessage = onMessage;
    this.indicator = indicator;
    this.failures = 0;
    this.socket = null;
    this.connect();
  }

  LiveSocket.prototype.setState = function (state) {
    if (!this.indicator) return;
    this.indicator.setAttribute("data-state", state);
    this.indicator.textContent = STATES[state];
  };

  LiveSocket.prototype.connect = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + this.path);
    this.socket = socket;
    this.setState(this.failures ? "reconnecting" : "connecting");
    socket.onopen = function () {
      self.failures = 0;
      self.setState("live");
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (error) { return; }
      self.onMessage(data);
    };
    socket.onclose = function () {
      if (self.socket !== socket) return;
      self.failures += 1;
      self.setState("reconnecting");
      // exponential backoff with jitter, 0.5 s doubling up to 15 s
      var ceiling = Math.min(15000, 500 * Math.pow(2, self.failures - 1));
      window.setTimeout(function () { self.connect(); }, ceiling / 2 + Math.random() * ceiling / 2);
    };
  };

  /* Ask for a fresh snapshot from the database (on a gap, or behind a heartbeat). */
  LiveSocket.prototype.resync = function () {
    if (this.resyncPending) return;
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.resyncPending = true;
      this.socket.send(JSON.stringify({ type: "resync" }));
    }
  };

  LiveSocket.prototype.snapshotArrived = function () { this.resyncPending = false; };

  window.OrderFlow = { LiveSocket: LiveSocket, el: el, formatTime: formatTime, timeElement: timeElement, localizeTimes: localizeTimes };
  document.addEventListener("DOMContentLoaded", function () { localizeTimes(); });
})();
