// corral dashboard: charts (uPlot) and the live audit feed (server-sent events).
// Served as a file because the Content-Security-Policy allows no inline script.
// Everything from the server is put in the page with textContent, never as HTML.
"use strict";

function drawCharts() {
  if (typeof uPlot === "undefined") return;
  document.querySelectorAll(".chart").forEach(function (el) {
    var xs = JSON.parse(el.dataset.x || "[]");
    var ys = JSON.parse(el.dataset.y || "[]");
    var small = el.classList.contains("small");
    if (!xs.length) {
      el.textContent = "no calls yet";
      el.classList.add("muted");
      return;
    }
    var series = [{}, { label: el.dataset.label || "", stroke: "#2a6fdb", width: 1.5 }];
    var data = [xs, ys];
    var limit = parseFloat(el.dataset.limit || "");
    if (!isNaN(limit)) {
      series.push({ label: "limit", stroke: "#c0392b", dash: [4, 4], width: 1 });
      data.push(xs.map(function () { return limit; }));
    }
    new uPlot({
      width: small ? 140 : 460,
      height: small ? 40 : 200,
      legend: { show: !small },
      cursor: { show: !small },
      axes: small ? [{ show: false }, { show: false }] : [{}, {}],
      // One call is one instant: give it a minute either side (a fixed range;
      // uPlot's automatic one stretches the time axis over years around it).
      scales: { x: xs.length > 1 ? { time: true }
        : { time: true, auto: false, range: [xs[0] - 60, xs[0] + 60] } },
      series: series,
    }, data, el);
  });
}

function liveFeed() {
  var list = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!list || typeof EventSource === "undefined") return;
  var source = new EventSource(list.dataset.stream);
  source.addEventListener("open", function () { status.textContent = "connected"; });
  source.addEventListener("error", function () { status.textContent = "reconnecting"; });
  source.addEventListener("audit", function (message) {
    var event = JSON.parse(message.data);
    var item = document.createElement("li");
    item.className = "live-event decision-" + event.decision;
    item.dataset.kind = event.kind;
    item.dataset.plugin = event.plugin;
    var head = document.createElement("strong");
    head.textContent = event.time + " " + event.kind + " " + event.plugin + " (" + event.decision + ")";
    var body = document.createElement("span");
    body.className = "details";
    body.textContent = event.summary;
    item.appendChild(head);
    item.appendChild(document.createElement("br"));
    item.appendChild(body);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 100) list.removeChild(list.lastChild);
  });
}

document.addEventListener("DOMContentLoaded", function () {
  drawCharts();
  liveFeed();
});
