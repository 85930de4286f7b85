// The configuration form's live validation (templates/configurations/form.html): a field's errors show once the
// admin has touched it, never before. A plain submit still shows every error (the server checks everything).
//
// - Every field changed or left (focusout) is remembered as touched; each live-validation request carries their
//   names as `touched` (configurations.forms.ConfigurationForm keeps only their errors).
// - Leaving a field for the first time without changing it (a name left empty) asks for validation too, so its error
//   appears then.
// - The request names the changed field in HX-Trigger (htmx would name the form, which has no id), so the server
//   knows a direction was just chosen.
(function () {
  const form = document.querySelector("form[data-touch-validation]");
  if (!form) return;
  const touched = new Set();

  function fieldOf(element) {
    if (!element || !element.name || !form.contains(element)) return null;
    if (!element.matches("input, select, textarea") || element.type === "submit" || element.type === "hidden") {
      return null;
    }
    return element;
  }

  // Capture phase: runs before htmx's own change listener on the form sends the request.
  document.addEventListener("change", function (event) {
    const field = fieldOf(event.target);
    if (field) touched.add(field.name);
  }, true);

  form.addEventListener("focusout", function (event) {
    const field = fieldOf(event.target);
    if (!field || touched.has(field.name)) return;
    touched.add(field.name);
    htmx.trigger(form, "touched");
  });

  // Removing a filter row renumbers the rows after it: their touched names follow them.
  function forgetRow(action) {
    const [, object, removed] = action.split(":");
    const pattern = new RegExp("^" + object + "-filters-(\\d+)-(.+)$");
    Array.from(touched).forEach(function (name) {
      const match = name.match(pattern);
      if (!match || Number(match[1]) < Number(removed)) return;
      touched.delete(name);
      if (Number(match[1]) > Number(removed)) touched.add(object + "-filters-" + (Number(match[1]) - 1) + "-" + match[2]);
    });
  }

  form.addEventListener("htmx:configRequest", function (event) {
    const button = event.detail.elt;
    if (button !== form && button.value && button.value.startsWith("remove-filter:")) forgetRow(button.value);
    event.detail.parameters["touched"] = Array.from(touched).join(" ");
    // The form's own requests (a change, a field left) are never a button's: htmx would add the last button that
    // had focus ("Add filter", kept focused across the swap), adding a second row.
    if (event.detail.elt === form) delete event.detail.parameters["action"];
    const cause = event.detail.triggeringEvent && event.detail.triggeringEvent.target;
    if (fieldOf(cause) && cause.id) event.detail.headers["HX-Trigger"] = cause.id;
  });
})();
