// The console's own scripts, in a file: the Content-Security-Policy allows no inline script and no eval.

// Live validation of a form marked data-stale-guard: a response never overwrites what was changed after its request
// left (the form's values when the request was sent are kept, and a swap is dropped if they differ now).
(function () {
  function values(form) {
    return new URLSearchParams(new FormData(form)).toString();
  }
  function guarded(event) {
    return event.target.closest && event.target.closest("form[data-stale-guard]");
  }
  document.addEventListener("htmx:configRequest", function (event) {
    const form = guarded(event);
    if (form) form.dataset.sent = values(form);
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    const form = guarded(event);
    if (form && values(form) !== form.dataset.sent) event.detail.shouldSwap = false;
  });
})();

// Times: the server writes "2 minutes ago" with the exact time (its own time zone) in the title. Here the title
// becomes the reader's local time, hours of the day (data-clock) are shown in it, and the words stay current while
// the page is open (a dashboard left on a wall screen).
(function () {
  const exact = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    timeZoneName: "short",
  });
  const hour = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
  const dayAndHour = new Intl.DateTimeFormat(undefined, {
    month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
  });
  const words = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  const units = [["day", 86400], ["hour", 3600], ["minute", 60]];

  function ago(date) {
    const seconds = (date.getTime() - Date.now()) / 1000;
    if (Math.abs(seconds) > 31 * 86400) return null; // a date: the server's words stand
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size) return words.format(Math.trunc(seconds / size), unit);
    }
    return seconds < 0 ? "just now" : "in a few seconds";
  }

  function localize(root) {
    root.querySelectorAll("time[data-when], time[data-clock]").forEach(function (element) {
      const date = new Date(element.getAttribute("datetime"));
      if (isNaN(date)) return;
      element.title = exact.format(date);
      if (element.hasAttribute("data-clock")) {
        const near = Math.abs(date.getTime() - Date.now()) < 20 * 3600 * 1000;
        element.textContent = (near ? hour : dayAndHour).format(date);
      } else {
        const text = ago(date);
        if (text) element.textContent = text;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  document.addEventListener("htmx:load", function (event) { localize(event.target); });
  setInterval(function () { localize(document); }, 30000);
})();
