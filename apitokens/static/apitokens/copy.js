// The "Copy" button beside a newly issued key: copies the key to the clipboard. Without JavaScript the button
// stays hidden and the key is selected by hand.
document.querySelectorAll("[data-copy-target]").forEach((button) => {
  const field = document.getElementById(button.dataset.copyTarget);
  if (!field || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    navigator.clipboard.writeText(field.value).then(() => {
      button.textContent = "Copied";
    });
  });
});
