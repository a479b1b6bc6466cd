// circushttpd: live updates of the page from the /socket WebSocket.
//
// The server sends two kinds of JSON messages, at most once a second each:
//   {type: "state", connected, alive, error, endpoint, watchers: [{name, status, pids}],
//    stats: {endpoint, receiving}}
//   {type: "stats", stats: {topic: {cpu, mem, age, name, reads, address, ...}}}
// Everything shown is set with textContent: no server text is parsed as HTML.
"use strict";

(function () {
  const HISTORY = 60; // points kept per chart (one a second: the last minute)
  const STALE = 10000; // ms without figures after which a circus/socket row goes
  const body = document.body;
  const page = body.dataset.page;
  const watcherName = body.dataset.watcher;
  let lastState = null;

  // -- rows kept in sync with a list of items ---------------------------------

  function rowsOf(tbody) {
    const rows = new Map();
    for (const row of tbody.children) rows.set(row.dataset.id, row);
    return rows;
  }

  // Make tbody hold one row per id of `ids` (in that order), cloning
  // `template` for new ones and calling fill(row, id) on each new row.
  function syncRows(tbody, template, ids, fill) {
    const rows = rowsOf(tbody);
    for (const [id, row] of rows) if (!ids.includes(id)) row.remove();
    let previous = null;
    for (const id of ids) {
      let row = rows.get(id);
      if (!row) {
        row = template.content.firstElementChild.cloneNode(true);
        row.dataset.id = id;
        fill(row, id);
      }
      const expected = previous ? previous.nextElementSibling : tbody.firstElementChild;
      if (row !== expected) tbody.insertBefore(row, expected);
      previous = row;
    }
  }

  function watcherUrl(name, action) {
    return "/watchers/" + encodeURIComponent(name) + (action ? "/" + action : "");
  }

  function setStatus(button, status) {
    button.textContent = status;
    button.className = "status status-" + status;
  }

  // -- state ------------------------------------------------------------------

  function showNotice(text) {
    const notice = document.getElementById("notice");
    notice.textContent = text || "";
    notice.hidden = !text;
  }

  function setLink(text, ok) {
    const link = document.getElementById("link");
    if (!link) return;
    link.textContent = text;
    link.className = "link " + (ok ? "link-ok" : "link-down");
  }

  function onState(state) {
    lastState = state;
    const shownConnected = page !== "connect";
    if (state.connected !== shownConnected && page !== "error") {
      location.assign("/"); // another browser connected or disconnected the console
      return;
    }
    if (!state.connected) return;
    setLink(state.alive ? "connected" : "disconnected", state.alive);
    if (!state.alive) {
      showNotice("circusd is not answering: " + (state.error || "disconnected") + " — retrying…");
      return;
    }
    const names = state.watchers.map((w) => w.name);
    if (!state.stats.receiving) {
      showNotice(names.includes("circusd-stats")
        ? "No stats received yet from " + state.stats.endpoint + " — waiting for circusd-stats…"
        : "Live CPU and memory figures need circusd-stats: set statsd = true in the [circus] section of circusd's configuration.");
    } else {
      showNotice("");
    }
    if (page === "index") updateWatchers(state.watchers);
    if (page === "watcher") {
      // Watcher names are case-insensitive: the URL may not have circusd's spelling.
      const wanted = watcherName.toLowerCase();
      updateWatcher(state.watchers.find((w) => w.name.toLowerCase() === wanted));
    }
  }

  function updateWatchers(watchers) {
    const tbody = document.querySelector('tbody[data-rows="watchers"]');
    const template = document.getElementById("watcher-row");
    syncRows(tbody, template, watchers.map((w) => w.name), (row, name) => {
      row.dataset.topic = "stat." + name.toLowerCase();
      const link = row.querySelector("a.name");
      link.textContent = name;
      link.href = watcherUrl(name);
      row.querySelector("form").action = watcherUrl(name, "toggle");
    });
    const rows = rowsOf(tbody);
    for (const w of watchers) {
      const row = rows.get(w.name);
      setStatus(row.querySelector("button.status"), w.status);
      row.querySelector(".count").textContent = String(w.pids.length);
    }
  }

  function updateWatcher(watcher) {
    if (!watcher) {
      showNotice("This watcher no longer exists.");
      return;
    }
    setStatus(document.getElementById("status"), watcher.status);
    document.getElementById("count").textContent = String(watcher.pids.length);
    const tbody = document.querySelector('tbody[data-rows="processes"]');
    const template = document.getElementById("process-row");
    const prefix = document.getElementById("processes").dataset.topic;
    syncRows(tbody, template, watcher.pids.map(String), (row, pid) => {
      row.dataset.topic = prefix + "." + pid;
      row.querySelector(".pid").textContent = pid;
      row.querySelector('input[name="pid"]').value = pid;
    });
  }

  // -- stats ------------------------------------------------------------------

  function formatValue(key, value) {
    if (typeof value !== "number") return String(value);
    if (key === "age") return value.toFixed(0);
    if (key === "reads") return String(value);
    return value.toFixed(key === "mem" ? 2 : 1);
  }

  function drawChart(svg, values) {
    const width = 120, height = 24;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    // Scaled to the largest value seen, with headroom, so small figures still move.
    const top = Math.max(...values) * 1.25 || 1;
    const step = width / (HISTORY - 1);
    const offset = width - step * (values.length - 1);
    const points = values.map((v, i) =>
      (offset + i * step).toFixed(1) + "," + (height - 1 - (v / top) * (height - 2)).toFixed(1));
    let line = svg.querySelector("polyline");
    if (!line) {
      line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      svg.appendChild(line);
    }
    line.setAttribute("points", points.join(" "));
    svg.dataset.points = String(values.length);
  }

  // Update the figures and charts of one element holding data-key children.
  function showStat(holder, stat) {
    for (const fig of holder.querySelectorAll(".fig[data-key]")) {
      if (fig.dataset.key in stat) fig.textContent = formatValue(fig.dataset.key, stat[fig.dataset.key]);
    }
    for (const svg of holder.querySelectorAll("svg.chart[data-key]")) {
      const value = stat[svg.dataset.key];
      if (typeof value !== "number") continue;
      const history = svg.history || (svg.history = []);
      history.push(value);
      if (history.length > HISTORY) history.shift();
      drawChart(svg, history);
    }
  }

  // stat.circus.<pid> and stat.sockets.<fd> rows are created as figures arrive.
  function updateGroup(stats, group, label) {
    const tbody = document.querySelector('tbody[data-rows="' + group + '"]');
    if (!tbody) return;
    const prefix = "stat." + group + ".";
    const ids = [];
    for (const topic of Object.keys(stats)) {
      if (topic.startsWith(prefix)) ids.push(topic.slice(prefix.length));
    }
    if (!ids.length) return;
    // Rows stay between messages, until their topic has been silent for a while.
    const now = Date.now();
    const known = [...rowsOf(tbody)].filter(([id, row]) => id && now - row.lastSeen < STALE).map(([id]) => id);
    const all = [...new Set(known.concat(ids))].sort((a, b) => Number(a) - Number(b));
    syncRows(tbody, document.getElementById(group === "circus" ? "circus-row" : "socket-row"), all,
      (row, id) => {
        row.dataset.topic = prefix + id;
        row.querySelector(".pid").textContent = id;
      });
    const rows = rowsOf(tbody);
    for (const id of ids) {
      const row = rows.get(id);
      row.lastSeen = now;
      row.querySelector(".label").textContent = label(stats[prefix + id]) || "";
    }
  }

  function onStats(stats) {
    updateGroup(stats, "circus", (s) => s.name);
    updateGroup(stats, "sockets", (s) => s.address);
    for (const holder of document.querySelectorAll("[data-topic]")) {
      const stat = stats[holder.dataset.topic];
      if (stat) showStat(holder, stat);
    }
  }

  // -- the socket ---------------------------------------------------------------

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/socket");
    ws.onopen = () => { body.dataset.live = "open"; };
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "state") onState(message);
      else if (message.type === "stats") onStats(message.stats);
    };
    ws.onclose = () => {
      body.dataset.live = "closed";
      if (lastState && lastState.connected) setLink("console offline", false);
      setTimeout(connect, 2000); // circushttpd restarting: come back by ourselves
    };
  }

  if (page !== "error") connect();
})();
