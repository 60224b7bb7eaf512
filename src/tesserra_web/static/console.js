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

// Uploads with a progress bar: a form marked data-upload is sent by XMLHttpRequest (its upload progress shows
// in the form's <progress>); without this script the same form posts as usual. The answer replaces the page's
// main content (an error, shown on the form) or, on success, the browser goes where the server redirected.
document.addEventListener("submit", function (event) {
  var form = event.target.closest("form[data-upload]");
  if (!form || !window.FormData || !window.DOMParser) return;
  event.preventDefault();
  var bar = form.querySelector("progress"), note = form.querySelector("[data-upload-note]");
  var xhr = new XMLHttpRequest();
  xhr.open("POST", form.action);
  xhr.setRequestHeader("X-CSRF-Token", form.elements.csrf.value);
  xhr.upload.addEventListener("progress", function (e) {
    if (e.lengthComputable) { bar.value = Math.round((100 * e.loaded) / e.total); note.textContent = bar.value + "% sent"; }
  });
  xhr.addEventListener("load", function () {
    if (xhr.status < 400) { window.location.assign(xhr.responseURL); return; }
    var main = new DOMParser().parseFromString(xhr.responseText, "text/html").getElementById("main");
    if (main) { document.getElementById("main").replaceWith(document.adoptNode(main)); } else { note.textContent = "The upload was refused (" + xhr.status + ")."; }
  });
  xhr.addEventListener("error", function () { note.textContent = "The upload failed: the connection ended."; });
  bar.hidden = false;
  note.textContent = "Sending…";
  xhr.send(new FormData(form));
});

// Live status: an element with data-live="<url>" follows that server-sent event stream; each event is
// {"id", "html"}: the element of that id inside it is replaced by the server's fragment. One that carries
// data-reload reloads the page when its data-state changes (what the rest of the page shows depends on it).
// Why not htmx's SSE extension: this is the whole need (about 20 lines against a 9 KB file to vendor).
function follow(region) {
  if (!window.EventSource) return;
  var source = new EventSource(region.getAttribute("data-live"));
  source.addEventListener("message", function (event) {
    var change = JSON.parse(event.data);
    var old = region.querySelector("#" + CSS.escape(change.id));
    if (!old) return;
    var holder = document.createElement("template");
    holder.innerHTML = change.html;
    var next = holder.content.firstElementChild;
    if (!next || next.id !== change.id) return;
    var reload = old.hasAttribute("data-reload") && old.getAttribute("data-state") !== next.getAttribute("data-state");
    old.replaceWith(next);
    if (reload) { source.close(); window.location.reload(); }
  });
  window.addEventListener("pagehide", function () { source.close(); });
}
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-live]").forEach(follow);
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
