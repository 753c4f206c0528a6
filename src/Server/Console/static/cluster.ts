/**
 * The cluster page's script (runs in the browser; no template literals inside, so it can live in one).
 * It long-polls `GET /v1/clusters/{token}?index=N` for changes, reads the members with their
 * deadlines from `/ui/api/clusters/{token}`, and re-reads them every few seconds, because a heartbeat
 * moves a deadline without changing the cluster's index.
 */
export const script = String.raw`(function () {
  "use strict";
  var token = decodeURIComponent(location.pathname.split("/")[3] || "");
  var listUrl = "/v1/clusters/" + encodeURIComponent(token);
  var detailUrl = "/ui/api/clusters/" + encodeURIComponent(token);
  var $ = function (id) { return document.getElementById(id); };
  var members = [];
  var known = null;
  var index = null;
  var skew = 0;
  var downSince = null;
  var changes = [];
  var REFRESH = 3000;

  $("cluster").textContent = token.slice(0, 4) + "\u2026";

  // The full token is in this page's URL already; the button puts it on the clipboard, never on the page.
  function copied(ok) {
    $("copy").textContent = ok ? "Copied" : "Copy failed";
    setTimeout(function () { $("copy").textContent = "Copy token"; }, 2000);
  }
  $("copy").addEventListener("click", function () {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(token).then(function () { copied(true); }, function () { copied(false); });
      return;
    }
    // Plain http on another host has no clipboard API: the old way, through a selected field.
    var field = document.createElement("textarea");
    field.value = token;
    field.setAttribute("readonly", "");
    field.className = "offscreen";
    document.body.appendChild(field);
    field.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(field);
    copied(ok);
  });

  function serverNow() { return Date.now() - skew; }
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function clock(ms) {
    var d = new Date(ms);
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }
  function span(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + "s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m " + two(s % 60) + "s";
    return Math.floor(m / 60) + "h " + two(m % 60) + "m";
  }

  function status(text, kind) {
    var el = $("status");
    el.textContent = text;
    el.className = "status " + kind;
    document.body.classList.toggle("offline", kind === "down");
  }

  function down(why) {
    if (downSince === null) downSince = Date.now();
    status("server unreachable since " + clock(downSince) + " (" + why + "), retrying\u2026", "down");
  }

  function up() {
    downSince = null;
    status("live", "live");
  }

  function note(kind, address, at) {
    changes.unshift({ kind: kind, address: address, at: at });
    if (changes.length > 100) changes.length = 100;
    var list = $("changes");
    var li = document.createElement("li");
    var tag = document.createElement("span");
    tag.className = kind;
    tag.textContent = { join: "joined", expire: "expired", leave: "left", listed: "listed" }[kind];
    li.appendChild(document.createTextNode(clock(at) + " "));
    li.appendChild(tag);
    li.appendChild(document.createTextNode(" " + address));
    li.setAttribute("data-kind", kind);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 100) list.removeChild(list.lastChild);
  }

  function apply(data) {
    skew = Date.now() - data.now;
    var next = {};
    data.members.forEach(function (m) { next[m.address] = m; });
    if (known !== null) {
      data.members.forEach(function (m) { if (!known[m.address]) note("join", m.address, m.registeredAt || data.now); });
      Object.keys(known).forEach(function (address) {
        if (next[address]) return;
        var old = known[address];
        var expired = old.expiresAt !== undefined && old.expiresAt <= data.now + 1000;
        note(expired ? "expire" : "leave", address, expired ? Math.min(old.expiresAt, data.now) : data.now);
      });
    } else if (data.members.length > 0) {
      note("listed", data.members.length + " member" + (data.members.length === 1 ? "" : "s") + " present when the page opened", data.now);
    }
    known = next;
    members = data.members;
    index = data.index;
    $("index").textContent = String(data.index);
    $("access").textContent = data.readOnly ? "read-only token" : "cluster token";
    $("count").textContent = "(" + members.length + ")";
    $("empty").hidden = members.length > 0;
    $("checked").textContent = clock(data.now);
    render();
  }

  function render() {
    var body = $("members").tBodies[0];
    var now = serverNow();
    var rows = members.map(function (m) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-address", m.address);
      var cells = [m.address, "", "", m.ttl === undefined ? "\u2013" : span(m.ttl)];
      cells[1] = m.registeredAt === undefined ? "unknown" : span(now - m.registeredAt) + " ago";
      var left = m.expiresAt === undefined ? null : m.expiresAt - now;
      cells[2] = left === null ? "unknown" : left <= 0 ? "expiring" : span(left);
      cells.forEach(function (text, i) {
        var td = document.createElement("td");
        td.textContent = text;
        if (i === 0) td.className = "mono";
        if (i === 3) td.className = "num";
        if (i === 2 && left !== null) td.className = left <= 0 ? "gone" : m.ttl && left < m.ttl / 3 ? "soon" : "";
        tr.appendChild(td);
      });
      return tr;
    });
    body.replaceChildren.apply(body, rows);
  }

  function problem(res) {
    return res.text().then(function (text) { throw { status: res.status, message: text.trim() }; });
  }

  function load() {
    return fetch(detailUrl, { cache: "no-store" }).then(function (res) {
      if (!res.ok) return problem(res);
      return res.json().then(function (data) { up(); apply(data); });
    });
  }

  function failed(error) {
    if (error && error.status >= 400 && error.status < 500) {
      status(error.message || "refused (" + error.status + ")", "error");
      return false;
    }
    down(error && error.status ? "HTTP " + error.status : "no answer");
    return true;
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  // Long-poll: answers at once when the index moved, else when it moves or the wait ends.
  // While the server is away, probe with a plain read instead: a long-poll could wait its whole time.
  function watch() {
    if (downSince !== null || index === null) {
      return load().then(watch, function (error) {
        if (failed(error)) return sleep(1000).then(watch);
      });
    }
    var url = listUrl + "?index=" + index + "&wait=25s";
    return fetch(url, { cache: "no-store" })
      .then(function (res) {
        if (!res.ok) return problem(res);
        var at = res.headers.get("X-Discovery-Index");
        return res.text().then(function () {
          if (at !== null && String(at) === String(index)) return;
          return load();
        });
      })
      .then(watch, function (error) {
        if (!failed(error)) return;
        return sleep(1000).then(watch);
      });
  }

  setInterval(render, 250);
  setInterval(function () { if (downSince === null && index !== null) load().catch(failed); }, REFRESH);
  watch();
})();
`
