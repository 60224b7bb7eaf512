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

// Clocks counting down: <time data-countdown="seconds left"> (an Infra SSH lease's time left).
(function () {
  var clocks = document.querySelectorAll("[data-countdown]");
  if (!clocks.length) return;
  var started = Date.now();
  var tick = function () {
    var gone = Math.floor((Date.now() - started) / 1000);
    clocks.forEach(function (clock) {
      var left = Math.max(0, parseInt(clock.getAttribute("data-countdown"), 10) - gone);
      clock.textContent = left > 0 ? Math.floor(left / 60) + " min " + (left % 60) + " s" : "ended (reload)";
    });
  };
  setInterval(tick, 1000);
})();
