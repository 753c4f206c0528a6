/**
 * The operator overview's script (browser; no template literals inside). It asks for the admin
 * token once, keeps it in sessionStorage (this tab only) and reads `/v1/admin/status` and
 * `/v1/admin/clusters` every few seconds with `Authorization: Bearer`.
 */
export const script = String.raw`(function () {
  "use strict";
  var KEY = "swarm-admin-token";
  var $ = function (id) { return document.getElementById(id); };
  var timer = null;
  var downSince = null;

  function two(n) { return (n < 10 ? "0" : "") + n; }
  function clock(ms) {
    var d = new Date(ms);
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }
  function ago(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    return Math.floor(s / 3600) + "h " + two(Math.floor(s / 60) % 60) + "m ago";
  }
  function num(n) { return n === undefined || n === null ? "\u2013" : Number(n).toLocaleString("en"); }

  function status(text, kind) {
    var el = $("status");
    el.textContent = text;
    el.className = "status " + kind;
    document.body.classList.toggle("offline", kind === "down");
  }

  function api(method, path) {
    return fetch(path, {
      method: method,
      cache: "no-store",
      headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) }
    }).then(function (res) {
      if (res.status === 401) { lock("the admin token was refused"); throw { status: 401 }; }
      if (!res.ok) return res.text().then(function (t) { throw { status: res.status, message: t.trim() }; });
      return res.json();
    });
  }

  function lock(why) {
    sessionStorage.removeItem(KEY);
    if (timer !== null) clearTimeout(timer);
    timer = null;
    $("app").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = why || "";
    status("locked", "");
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function totals(s) {
    var m = s.metrics;
    var items = [
      ["clusters", num(s.totals.clusters)],
      ["entries", num(s.totals.entries)],
      ["store", s.store.ok ? "ok \u00b7 " + s.store.ms + " ms" : "failing"],
      ["requests", num(m.requests)],
      ["4xx answers", num(m.clientErrors)],
      ["5xx answers", num(m.serverErrors)],
      ["long-polls waiting", num(m.watchers)],
      ["registrations", num(m.registrations)],
      ["expirations", num(m.expirations)],
      ["uptime", ago(s.now - s.startedAt).replace(" ago", "")]
    ];
    var dl = $("totals");
    dl.replaceChildren.apply(dl, items.map(function (it) {
      var div = document.createElement("div");
      var dt = document.createElement("dt");
      var dd = document.createElement("dd");
      dt.textContent = it[0];
      dd.textContent = it[1];
      div.setAttribute("data-figure", it[0]);
      div.appendChild(dt);
      div.appendChild(dd);
      return div;
    }));
    if (!s.store.ok) {
      dl.querySelector("[data-figure=store]").classList.add("bad");
      dl.querySelector("[data-figure=store] dd").className = "error";
    }
  }

  function bounds(list) {
    var body = $("bounds").tBodies[0];
    body.replaceChildren.apply(body, list.map(function (b) {
      var tr = document.createElement("tr");
      cell(tr, b.name + (b.flag ? " (" + b.flag + ")" : ""));
      cell(tr, b.used === undefined ? "\u2013" : num(b.used), "num");
      cell(tr, num(b.limit), "num");
      var bar = document.createElement("div");
      var fill = document.createElement("span");
      var share = b.used === undefined || !b.limit ? 0 : Math.min(1, b.used / b.limit);
      bar.className = "bar" + (share >= 0.9 ? " bad" : share >= 0.7 ? " warn" : "");
      bar.title = Math.round(share * 100) + "%";
      fill.style.width = Math.round(share * 100) + "%";
      bar.appendChild(fill);
      cell(tr, bar);
      cell(tr, b.refused === undefined ? "\u2013" : num(b.refused), "num");
      tr.setAttribute("data-bound", b.flag || b.name);
      return tr;
    }));
  }

  function routes(list) {
    var body = $("routes").tBodies[0];
    body.replaceChildren.apply(body, list.map(function (r) {
      var tr = document.createElement("tr");
      cell(tr, r.route, "mono");
      cell(tr, num(r.ok), "num");
      cell(tr, num(r.clientErrors), "num");
      cell(tr, num(r.serverErrors), "num");
      // A long-poll's time is mostly waiting for a change: shown as its wait, never as latency.
      var mean = r.count ? (1000 * r.seconds / r.count).toFixed(2) + " ms" : "\u2013";
      var waits = r.route === "watch";
      cell(tr, waits ? "\u2013" : mean, "num");
      cell(tr, waits ? mean : "\u2013", "num");
      tr.setAttribute("data-route", r.route);
      return tr;
    }));
  }

  function clusters(data, storeOk) {
    var body = $("clusters").tBodies[0];
    $("cluster-count").textContent = "(" + data.total + (data.truncated ? ", showing " + data.clusters.length : "") + ")";
    $("no-clusters").hidden = data.clusters.length > 0;
    body.replaceChildren.apply(body, data.clusters.map(function (c) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-cluster", c.cluster);
      var link = document.createElement("a");
      link.href = "/ui/clusters/" + c.token;
      link.target = "_blank";
      link.rel = "noreferrer";
      link.textContent = c.cluster;
      link.className = "mono";
      cell(tr, link);
      cell(tr, num(c.entries), "num");
      cell(tr, c.lastRegistration === undefined ? "unknown" : clock(c.lastRegistration) + " (" + ago(data.now - c.lastRegistration) + ")");
      var del = document.createElement("button");
      del.type = "button";
      del.className = "danger";
      del.textContent = "Delete";
      del.disabled = !storeOk;
      if (!storeOk) del.title = "the store is failing";
      del.addEventListener("click", function () {
        if (!confirm("Delete cluster " + c.cluster + " and its " + c.entries + " entries? Its nodes re-register at their next heartbeat if they are still running.")) return;
        api("DELETE", "/v1/admin/clusters/" + c.token).then(refresh, failed);
      });
      cell(tr, del);
      return tr;
    }));
  }

  // While the server does not answer, nothing on the page is current: the store shows as unreachable and
  // Delete is off until the next good refresh redraws both.
  function unreachable() {
    var store = document.querySelector("[data-figure=store]");
    if (store) {
      store.classList.add("bad");
      store.querySelector("dd").textContent = "unreachable";
      store.querySelector("dd").className = "error";
    }
    Array.prototype.forEach.call(document.querySelectorAll("#clusters button.danger"), function (b) {
      b.disabled = true;
      b.title = "the server is not answering";
    });
  }

  function failed(error) {
    if (error && error.status === 401) return;
    if (!error || !error.status || error.status >= 500) unreachable();
    if (downSince === null) downSince = Date.now();
    status(error && error.status ? "error " + error.status + ": " + (error.message || "") : "server unreachable since " + clock(downSince) + ", retrying\u2026", "down");
  }

  function refresh() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    return Promise.all([api("GET", "/v1/admin/status"), api("GET", "/v1/admin/clusters")]).then(function (both) {
      downSince = null;
      $("login").hidden = true;
      $("app").hidden = false;
      $("logout").hidden = false;
      status("live \u00b7 " + clock(both[0].now), "live");
      totals(both[0]);
      bounds(both[0].bounds);
      routes(both[0].metrics.routes);
      clusters(both[1], both[0].store.ok);
    }, failed).then(function () {
      if (sessionStorage.getItem(KEY) !== null) timer = setTimeout(refresh, 2000);
    });
  }

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("token").value.trim());
    $("token").value = "";
    $("login-error").textContent = "";
    refresh();
  });
  $("logout").addEventListener("click", function () { lock(""); });
  if (sessionStorage.getItem(KEY) !== null) refresh(); else lock("");
})();
`
