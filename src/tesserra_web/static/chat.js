// The chat page's island: an answer streamed into the page as the agent writes it, a Stop button, and the
// decisions on destructive tool calls. What the model writes is only ever set with textContent, never as
// HTML: it stays text. No inline handlers, no eval (the CSP forbids both).
(function () {
  "use strict";
  var list = document.getElementById("messages");
  if (!list) return;
  var base = list.getAttribute("data-base");
  var agent = list.getAttribute("data-agent") || "Agent";
  var status = document.getElementById("chat-status");
  var token = document.querySelector("input[name=csrf]");
  var csrf = token ? token.value : "";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function say(text) {
    if (status) status.textContent = text;
  }

  function form(body) {
    return new URLSearchParams(body || {});
  }

  // A form's own message: what the server's page says in its alert (read from an inert document as text).
  function failure(response) {
    return response.text().then(function (html) {
      var page = new DOMParser().parseFromString(html, "text/html");
      var found = page.querySelector("#chat-status") || page.querySelector("[role=alert] p");
      var text = found ? found.textContent.trim() : "";
      return text || "That did not work (" + response.status + ").";
    }, function () {
      return "That did not work (" + response.status + ").";
    });
  }

  function act(url, body, done) {
    fetch(url, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" },
      body: form(body),
      credentials: "same-origin",
      redirect: "manual"
    }).then(function (response) {
      if (response.type === "opaqueredirect" || response.ok) {
        done();
        return;
      }
      return failure(response).then(say);
    }, function () {
      say("The server could not be reached.");
    });
  }

  function state(node, value) {
    node.setAttribute("data-status", value);
    var label = node.querySelector(".state");
    if (label) {
      label.textContent = value.replace("_", " ");
      label.className = "state status-" + value;
    }
  }

  function messageUrl(id) {
    return base + "/messages/" + encodeURIComponent(id);
  }

  function stopForm(node, id) {
    if (node.querySelector("form.stop")) return;
    var stop = el("form", "stop");
    stop.method = "post";
    stop.action = messageUrl(id) + "/cancel";
    var button = el("button", "danger", "Stop");
    button.type = "submit";
    stop.appendChild(button);
    node.appendChild(stop);
  }

  function article(role) {
    var node = el("article", "message message-" + role);
    var who = el("h3", "who", role === "user" ? "You" : agent);
    node.appendChild(who);
    if (role === "assistant") {
      who.appendChild(document.createTextNode(" "));
      who.appendChild(el("span", "state status-streaming", "streaming"));
    }
    node.appendChild(el("div", "text"));
    node.appendChild(el("ul", "calls"));
    node.appendChild(el("div", "approvals"));
    list.appendChild(node);
    return node;
  }

  function call(node, id) {
    var items = node.querySelectorAll(".calls li");
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-call") === id) return items[i];
    }
    return null;
  }

  function approval(node, data) {
    var box = el("div", "approval card");
    box.setAttribute("data-call", data.tool_call_id);
    var ask = el("p", "", "The agent asks to run ");
    ask.appendChild(el("code", "", data.name));
    ask.appendChild(document.createTextNode(", which changes or deletes things. Allow it?"));
    box.appendChild(ask);
    box.appendChild(el("pre", "", data.arguments));
    var decide = el("form", "inline decide");
    decide.method = "post";
    decide.action = messageUrl(node.getAttribute("data-message")) + "/approvals/" + encodeURIComponent(data.approval_id);
    [["approve", "Approve", ""], ["deny", "Deny", "danger"]].forEach(function (choice) {
      var button = el("button", choice[2], choice[1]);
      button.type = "submit";
      button.name = "decision";
      button.value = choice[0];
      decide.appendChild(button);
    });
    box.appendChild(decide);
    node.querySelector(".approvals").appendChild(box);
  }

  function settled(node, id) {
    var boxes = node.querySelectorAll(".approval");
    for (var i = 0; i < boxes.length; i++) {
      if (id === undefined || boxes[i].getAttribute("data-call") === id) boxes[i].remove();
    }
  }

  function handle(node, name, data) {
    var text = node.querySelector(".text");
    if (name === "message_start") {
      node.id = "message-" + data.message_id;
      node.setAttribute("data-message", data.message_id);
      stopForm(node, data.message_id);
    } else if (name === "text_delta") {
      text.textContent += data.text;
    } else if (name === "tool_call") {
      var item = el("li", "", "tool ");
      item.setAttribute("data-call", data.id);
      item.appendChild(el("code", "", data.name));
      item.appendChild(el("span", "", ": running"));
      node.querySelector(".calls").appendChild(item);
    } else if (name === "approval_required") {
      state(node, "pending_approval");
      approval(node, data);
    } else if (name === "tool_result") {
      var line = call(node, data.id);
      if (line) line.lastChild.textContent = ": " + data.outcome;
      settled(node, data.id);
      state(node, "streaming");
    } else if (name === "error") {
      node.appendChild(el("p", "error", data.message));
    } else if (name === "done") {
      text.textContent = data.content;
      state(node, data.status);
      settled(node);
      var stop = node.querySelector("form.stop");
      if (stop) stop.remove();
    }
  }

  // The answer's server-sent events, read from a fetch's body as they come.
  function read(response, node) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function frame(raw) {
      var name = "";
      var data = "";
      raw.split("\n").forEach(function (line) {
        var colon = line.indexOf(":");
        var field = line.slice(0, colon);
        var value = line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "data") data += value;
      });
      if (name && data) handle(node, name, JSON.parse(data));
    }
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var cut = buffer.indexOf("\n\n");
        while (cut >= 0) {
          frame(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          cut = buffer.indexOf("\n\n");
        }
        return pump();
      });
    }
    return pump();
  }

  function send(composer) {
    var field = composer.elements.content;
    var content = field.value;
    if (!content.trim()) {
      say("Write a message first.");
      return;
    }
    var button = composer.querySelector("button[type=submit]");
    button.disabled = true;
    say("");
    fetch(composer.action, {
      method: "POST",
      headers: {
        Accept: "text/event-stream",
        "X-CSRF-Token": csrf,
        "Content-Type": "application/x-www-form-urlencoded"
      },
      body: form({ content: content }),
      credentials: "same-origin"
    })
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (response.redirected) {
          window.location.assign(response.url); // signed out meanwhile: the login page
          return;
        }
        if (!response.ok || type.indexOf("text/event-stream") !== 0) {
          return failure(response).then(say);
        }
        var empty = document.getElementById("no-messages");
        if (empty) empty.remove();
        article("user").querySelector(".text").textContent = content;
        field.value = "";
        return read(response, article("assistant"));
      })
      .catch(function () {
        say("The connection was lost: reload the page to see the answer.");
      })
      .then(function () {
        button.disabled = false;
      });
  }

  // An answer still being written when the page loaded: replay its events from the start, then follow them.
  function follow(node) {
    node.querySelector(".text").textContent = "";
    node.querySelector(".calls").textContent = "";
    node.querySelector(".approvals").textContent = "";
    fetch(node.getAttribute("data-follow"), { headers: { Accept: "text/event-stream" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.ok) return read(response, node);
      })
      .catch(function () {
        say("The connection was lost: reload the page to see the answer.");
      });
  }

  document.addEventListener("submit", function (event) {
    var target = event.target;
    if (target.id === "composer") {
      event.preventDefault();
      send(target);
    } else if (target.classList.contains("stop") && list.contains(target)) {
      event.preventDefault();
      var button = target.querySelector("button");
      button.disabled = true;
      act(target.action, null, function () {
        say("");
      });
    } else if (target.classList.contains("decide") && list.contains(target)) {
      event.preventDefault();
      var choice = event.submitter ? event.submitter.value : "";
      act(target.action, { decision: choice }, function () {
        var box = target.closest(".approval");
        if (box) box.remove();
      });
    }
  });

  var live = list.querySelectorAll("[data-follow]");
  for (var i = 0; i < live.length; i++) follow(live[i]);
})();
