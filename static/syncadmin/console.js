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
