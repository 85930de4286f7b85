// The dashboard's trends: four charts (Chart.js, vendored under static/vendor/chartjs) drawn from the JSON the page
// carries in <script id="trends-data" type="application/json"> (not executed: the Content-Security-Policy allows
// script files only). Without JavaScript the table of numbers under the charts says the same.
(function () {
  const source = document.getElementById("trends-data");
  if (!source || typeof window.Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const css = getComputedStyle(document.documentElement);
  const colour = function (name, fallback) { return (css.getPropertyValue(name) || "").trim() || fallback; };
  const green = colour("--bs-success", "#198754");
  const red = colour("--bs-danger", "#dc3545");
  const palette = ["#dc3545", "#fd7e14", "#ffc107", "#6f42c1", "#d63384", "#6c757d"];
  const day = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  const labels = data.labels.map(function (iso) { return day.format(new Date(iso + "T12:00:00")); });
  window.Chart.defaults.font.family = css.getPropertyValue("--bs-body-font-family") || undefined;
  window.Chart.defaults.animation = false; // a wall screen redraws nothing; tests and screenshots see the end state

  function bars(stacked) {
    return {
      responsive: true, maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: {
        x: { stacked: stacked, grid: { display: false } },
        y: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } },
      },
    };
  }

  const charts = {
    runs: {
      type: "bar",
      data: { labels: labels, datasets: [
        { label: "Succeeded", data: data.runs.succeeded, backgroundColor: green },
        { label: "Failed", data: data.runs.failed, backgroundColor: red },
      ] },
      options: bars(true),
    },
    failures: {
      type: "bar",
      data: { labels: labels, datasets: Object.keys(data.failures).map(function (code, n) {
        return { label: code, data: data.failures[code], backgroundColor: palette[n % palette.length] };
      }) },
      options: bars(true),
    },
    records: {
      type: "bar",
      data: { labels: labels, datasets: [
        { label: "Written in Salesforce", data: data.records.salesforce, backgroundColor: "#0b5cab" },
        { label: "Written in Outlook", data: data.records.outlook, backgroundColor: "#6ea8fe" },
      ] },
      options: bars(false),
    },
    api: {
      type: "line",
      data: { labels: labels, datasets: [
        { label: "Org's peak use (% of allocation)", data: data.api.org_share, borderColor: "#0b5cab",
          backgroundColor: "#0b5cab", spanGaps: true, tension: 0.2 },
        { label: "The sync's own calls (% of allocation)", data: data.api.own_share, borderColor: "#fd7e14",
          backgroundColor: "#fd7e14", spanGaps: true, tension: 0.2 },
      ] },
      options: Object.assign(bars(false), {
        plugins: Object.assign(bars(false).plugins, { tooltip: { callbacks: {
          // The shares are small next to each other: the tooltip says the numbers behind them too.
          label: function (item) {
            const i = item.dataIndex, share = item.parsed.y;
            if (share === null || share === undefined) return item.dataset.label + ": not reported";
            const allocation = data.api.allocation[i];
            if (item.datasetIndex === 1) {
              return "The sync: " + data.api.salesforce_calls[i] + " calls (" + share + "% of " + allocation + ")";
            }
            return "Org: " + share + "% of " + allocation + " daily requests";
          },
        } } }),
        scales: { x: { grid: { display: false } },
                  y: { beginAtZero: true, suggestedMax: 100, ticks: { callback: function (v) { return v + "%"; } } } },
      }),
    },
  };

  document.querySelectorAll("canvas[data-trend]").forEach(function (canvas) {
    const config = charts[canvas.dataset.trend];
    if (!config) return;
    canvas.chart = new window.Chart(canvas, config);
    canvas.dataset.drawn = "true";
  });
})();
