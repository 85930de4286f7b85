// The users list's bulk actions: tick every user of the page at once, say how many are selected, and show the
// configuration to assign to only for "assign". The form works without this file (tick users one by one).
(function () {
  const form = document.getElementById("bulk-form");
  if (!form) return;
  const page = form.querySelector("[data-bulk-page]");
  const all = form.querySelector("[data-bulk-all]");
  const action = form.querySelector("[data-bulk-action]");
  const configuration = form.querySelector("[data-bulk-configuration]");
  const said = document.getElementById("bulk-selected");
  const boxes = function () { return Array.from(form.querySelectorAll("[data-bulk-user]")); };

  function update() {
    const ticked = boxes().filter(function (box) { return box.checked; }).length;
    if (all && all.checked) {
      boxes().forEach(function (box) { box.checked = true; box.disabled = true; });
      if (page) { page.checked = true; page.disabled = true; }
      if (said) said.textContent = "Every user matching the filters is selected;";
    } else {
      boxes().forEach(function (box) { box.disabled = false; });
      if (page) {
        page.disabled = false;
        page.checked = ticked > 0 && ticked === boxes().length;
        page.indeterminate = ticked > 0 && ticked < boxes().length;
      }
      if (said) said.textContent = ticked ? ticked + " selected on this page, or" : "Tick users below, or";
    }
    // Only "assign" takes a configuration (a bulk "unassign" removes each user's direct assignment, whatever it is).
    if (configuration && action) configuration.hidden = configuration.disabled = action.value !== "assign";
  }

  form.addEventListener("change", function (event) {
    if (event.target === page) boxes().forEach(function (box) { box.checked = page.checked; });
    if (event.target === all && !all.checked) boxes().forEach(function (box) { box.checked = false; });
    update();
  });
  update();
})();
