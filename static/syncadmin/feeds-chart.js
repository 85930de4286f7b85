// The dashboard's chart of Salesforce calls per hour (Chart.js, vendored under static/vendor/chartjs): calls made by
// sync runs and by the org feed, stacked, against the hourly share of the org's daily allocation (a line). The data
// comes from <script id="feed-calls-data" type="application/json"> (not executed: the Content-Security-Policy allows
// script files only); without JavaScript the table under the chart says the same.
(function () {
  const source = document.getElementById("feed-calls-data");
  const canvas = document.querySelector("canvas[data-feed-chart='calls']");
  if (!source || !canvas || typeof window.Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const hour = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const labels = data.labels.map(function (iso) { return hour.format(new Date(iso)); });
  window.Chart.defaults.animation = false; // screenshots and tests see the end state
  const datasets = [
    { type: "bar", label: "Sync runs", data: data.runs, backgroundColor: "#0b5cab", stack: "calls", order: 2,
      pointStyle: "rect" },
    { type: "bar", label: "Org feed", data: data.feed, backgroundColor: "#6ea8fe", stack: "calls", order: 2,
      pointStyle: "rect" },
  ];
  if (data.hourly_share) {
    datasets.push({
      type: "line", label: "Hourly share of the daily allocation", order: 1, pointRadius: 0, borderWidth: 2,
      pointStyle: "line",
      data: data.labels.map(function () { return data.hourly_share; }), borderColor: "#dc3545",
      backgroundColor: "#dc3545", borderDash: [6, 4],
    });
  }
  canvas.chart = new window.Chart(canvas, {
    type: "bar",
    data: { labels: labels, datasets: datasets },
    options: {
      responsive: true, maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      // Point styles in the legend: squares for the bars, a line for the allocation.
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12, usePointStyle: true } } },
      scales: {
        x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 12 } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
      },
    },
  });
  canvas.dataset.drawn = "true";
})();
