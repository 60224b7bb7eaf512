// The console's only script of its own: copy buttons. No inline handlers, no eval (the CSP forbids both).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var text = document.getElementById(button.getAttribute("data-copy")).textContent;
  var done = function () { button.textContent = "Copied"; };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(text).then(done, function () { button.textContent = "Select and copy"; });
  }
});
