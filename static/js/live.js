/* OrderFlow live pages: one WebSocket with reconnect and backoff, and local times.
 *
 * The server sends a snapshot on connect and when asked ({"type": "resync"}), then
 * pushes and heartbeats. Pushes can be lost (channel layers drop messages by design),
 * so pages resync whenever a sequence skips or a heartbeat says they are behind.
 *
 * A close the server means is told from a network drop by its code (tracking/consumers.py):
 * 4401 the login ended, 4403 the role no longer allows the page. Both stop reconnecting and
 * say so on the page, with a link to log in again and come back here; anything else (1006
 * and the rest) is a drop, retried with backoff. */
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

  var STATES = {
    connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…",
    ended: "Session ended", forbidden: "Not allowed",
  };

  /* The page's words for `name`: base.html renders them on <body> in the reader's language
   * (data-text-live="Ao vivo"); the English here is the fallback. */
  function text(name, fallback) {
    return document.body.getAttribute("data-text-" + name) || fallback;
  }

  /* Close codes that end the page's live updates, and what the page then says. */
  var FINAL = {
    4401: { state: "ended", text: "Your session has ended, so this page is no longer updating and may be out of date." },
    4403: { state: "forbidden", text: "Your role no longer allows this page, so it is no longer updating." },
  };

  function loginUrl() {
    var base = document.body.getAttribute("data-login-url") || "/admin/login/";
    return base + "?next=" + encodeURIComponent(window.location.pathname + window.location.search);
  }

  /* Say on the page that it stopped, once, where a screen reader hears it at once. */
  function showStopped(final) {
    var notice = document.getElementById("live-stopped");
    if (!notice) {
      notice = el("div", { id: "live-stopped", class: "stopped card", role: "alert" });
      var main = document.getElementById("content");
      main.insertBefore(notice, main.firstChild);
    }
    notice.replaceChildren(
      text(final.state + "-notice", final.text) + " ",
      el("a", { href: loginUrl(), id: "live-login" }, text("log-in-again", "Log in again"))
    );
  }

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
    // a page may word the states in its own language (data-text-live="Ao vivo")
    this.indicator.textContent =
      this.indicator.getAttribute("data-text-" + state) || text(state, STATES[state]);
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
    socket.onclose = function (event) {
      if (self.socket !== socket) return;
      var final = FINAL[event.code];
      if (final) {
        self.stopped = true;
        self.setState(final.state);
        showStopped(final);
        return;  // reconnecting would be refused again: the page says what to do instead
      }
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
