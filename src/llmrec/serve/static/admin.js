"use strict";
// The admin dashboard: everything comes from GET /admin/overview (an admin key). Every
// value is set through textContent, never parsed as HTML: item ids, quarantined rows and
// trainer names are data. Charts are drawn by the bundled Chart.js (no CDN).
const $ = (id) => document.getElementById(id);
$("key").value = sessionStorage.getItem("llmrec-admin-key") || "";
$("key").addEventListener("change", () => sessionStorage.setItem("llmrec-admin-key", $("key").value));
const charts = {};

function status(text, failed) {
  $("status").textContent = text;
  $("status").className = failed ? "flag" : "";
}

function fixed(value, digits) {
  return value === null || value === undefined ? "" : Number(value).toFixed(digits);
}

function table(id, columns, rows, numeric) {
  const node = $(id);
  node.replaceChildren();
  const head = node.createTHead().insertRow();
  for (const column of columns) {
    const th = document.createElement("th");
    th.textContent = column;
    head.appendChild(th);
  }
  const body = node.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    row.forEach((value, n) => {
      const td = tr.insertCell();
      td.textContent = value === null || value === undefined ? "" : String(value);
      if (numeric && numeric.includes(n)) td.className = "number";
    });
  }
  return node;
}

function chart(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart($(id), config);
}

function drawData(data) {
  table("counts", Object.keys(data.counts), [Object.values(data.counts)],
        Object.keys(data.counts).map((_, n) => n));
  const days = [...new Set(data.activity.map((r) => r.day))];
  const types = [...new Set(data.activity.map((r) => r.event_type))];
  chart("activity-chart", {
    type: "bar",
    data: {
      labels: days.map((d) => new Date(d * 1000).toISOString().slice(0, 10)),
      datasets: types.map((type) => ({
        label: type,
        data: days.map((d) => (data.activity.find((r) => r.day === d && r.event_type === type) || {}).events || 0),
      })),
    },
    options: { animation: false, scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: "events per day" } } } },
  });
  $("quarantine-note").textContent = `(${data.counts.quarantine} rows; the newest ${data.quarantine.length} shown)`;
  const rows = data.quarantine.map((r) => [r.source, r.kind, r.line, r.reason, r.raw]);
  const node = table("quarantine", ["source", "kind", "line", "reason", "row as read"], rows, [2]);
  for (const tr of node.tBodies[0].rows) tr.cells[4].className = "raw";
}

function drawModels(models) {
  const served = models.served;
  table("served", ["version", "age (min)", "users", "items", "sources"], served ? [[
    served.version === null ? "model file" : served.version, fixed(served.age_s / 60, 1),
    served.users, served.items, served.sources.join(", "),
  ]] : [], [1, 2, 3]);
  const held = served && served.ranker ? served.ranker.holdout_ndcg : {};
  const lead = served && served.ranker ? served.ranker.lead : null;
  table("holdout", ["ranking", "NDCG@10", ""], Object.entries(held).map(([name, value]) => [
    name, fixed(value, 4), name === (lead || "model") ? "serves" : "",
  ]), [1]);
  table("versions", ["version", "served", "published", "MB", "trainer", "users", "events", "fit s"],
        models.versions.map((v) => [
          v.version, v.served ? "yes" : "", new Date(v.published_at * 1000).toISOString().slice(0, 19),
          fixed(v.bytes / 1e6, 1), v.trainer, (v.summary || {}).users, (v.summary || {}).events,
          (v.summary || {}).fit_seconds,
        ]), [0, 3, 5, 6, 7]);
  const evaluation = models.last_evaluation;
  $("evaluation-note").textContent = evaluation
    ? `(${new Date(evaluation.at * 1000).toISOString().slice(0, 19)} UTC; report: ${evaluation.report})`
    : "(none yet: llmrec evaluate)";
  table("evaluation", ["split", "system", "users", "NDCG@10", "Recall@10", "MRR", "coverage@10"],
        (evaluation ? evaluation.rows : []).map((r) => [
          r.split, r.system, r.users, fixed(r["ndcg@10"], 4), fixed(r["recall@10"], 4),
          fixed(r.mrr, 4), fixed(r["coverage@10"], 3),
        ]), [2, 3, 4, 5, 6]);
}

function drawTraffic(traffic) {
  const totals = traffic.bounds.map((_, n) => traffic.series.reduce((sum, s) => sum + s.buckets[n], 0));
  chart("latency-chart", {
    type: "bar",
    data: {
      labels: traffic.bounds.map((b) => (b === "+Inf" ? "> 5 s" : `≤ ${b * 1000} ms`)),
      datasets: [{ label: "requests", data: totals }],
    },
    options: { animation: false, plugins: { legend: { display: false } },
               scales: { y: { title: { display: true, text: "requests (latency histogram)" } } } },
  });
  const byRoute = {};
  for (const s of traffic.series) {
    const key = s.route === "unmatched" ? "static files, unknown paths" : `${s.method} ${s.route}`;
    const entry = byRoute[key] || (byRoute[key] = { count: 0, errors: 0, seconds: 0 });
    entry.count += s.count;
    entry.seconds += s.seconds;
    if (s.status >= 500) entry.errors += s.count;
  }
  table("routes", ["endpoint", "requests", "5xx", "mean ms"],
        Object.entries(byRoute).sort((a, b) => b[1].count - a[1].count).map(([route, e]) => [
          route, e.count, e.errors, fixed((e.seconds / Math.max(e.count, 1)) * 1000, 2),
        ]), [1, 2, 3]);
}

function drawExperiments(experiments) {
  table("experiments", ["name", "kind", "status", "variants", "window h"], experiments.listed.map((e) => [
    e.name, e.kind, e.status, e.variants.map((v) => `${v.name} ${v.share}`).join(", "), fixed(e.window_s / 3600, 1),
  ]), [4]);
  const report = experiments.report;
  $("report-title").textContent = report ? `Report: ${report.experiment} (${report.impressions} impressions)` : "";
  if (!report) {
    table("report", [], []);
    $("report-note").textContent = "no experiment yet (llmrec experiments create)";
    return;
  }
  if (report.interleaving) {
    const won = report.interleaving;
    table("report", ["variant", "users won"], Object.entries(won.wins), [1]);
    $("report-note").textContent = `ties ${won.ties}; Δ ${fixed(won.delta, 3)}; p = ${Number(won.p_value).toPrecision(3)} (binomial)`;
    chart("report-chart", { type: "bar", data: { labels: Object.keys(won.wins),
      datasets: [{ label: "users whose clicks went to it", data: Object.values(won.wins) }] },
      options: { animation: false } });
    return;
  }
  const node = table("report", ["variant", "users", "impressions", "CTR", "conversion",
                                "user CTR", "95% CI", "lift", "p"], report.variants.map((v) => [
    v.variant, v.users, v.impressions, fixed(v.click_through, 4), fixed(v.conversion, 4),
    fixed(v.user_click_through.mean, 4),
    `${fixed(v.user_click_through.low, 4)} – ${fixed(v.user_click_through.high, 4)}`,
    v.lift === null ? "" : `${(v.lift * 100).toFixed(1)}%`,
    v.p_value === null ? "" : Number(v.p_value).toPrecision(3),
  ]), [1, 2, 3, 4, 5]);
  for (const tr of node.tBodies[0].rows) tr.dataset.variant = tr.cells[0].textContent;
  const ratio = report.sample_ratio_p === null ? "" : `sample ratio p = ${Number(report.sample_ratio_p).toPrecision(3)}`;
  $("report-note").textContent = [report.sample_ratio_mismatch ? "SAMPLE-RATIO MISMATCH: " + ratio : ratio,
                                   ...report.notes].filter(Boolean).join("; ");
  $("report-note").className = report.sample_ratio_mismatch ? "flag" : "meta";
  // the interval as a floating bar, the mean as a point on it
  const ctr = report.variants.map((v) => v.user_click_through);
  chart("report-chart", {
    data: { labels: report.variants.map((v) => v.variant),
            datasets: [{ type: "bar", label: "95% interval of per-user click-through",
                         data: ctr.map((e) => [e.low ?? e.mean, e.high ?? e.mean]) },
                       { type: "line", label: "mean", showLine: false, pointRadius: 6,
                         data: ctr.map((e) => e.mean) }] },
    options: { animation: false, scales: { y: { beginAtZero: true } } },
  });
}

async function load() {
  status("loading…");
  try {
    const response = await fetch("/admin/overview", { headers: { "Authorization": "Bearer " + $("key").value } });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      $("board").hidden = true;
      status(`refused (${response.status}): ${typeof data.detail === "string" ? data.detail : "an admin key is needed"}`, true);
      return;
    }
    drawData(data.data);
    drawModels(data.models);
    drawTraffic(data.traffic);
    drawExperiments(data.experiments);
    $("board").hidden = false;
    status(`as of ${new Date(data.generated_at * 1000).toISOString().slice(0, 19)} UTC`);
  } catch (error) {
    status(String(error), true);
  }
}

$("load").addEventListener("click", load);
if ($("key").value) load();
