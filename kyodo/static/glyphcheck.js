// Warn while a value is typed that the seal could not print (a character the
// sealing font lacks, such as 𠮷 or an emoji, or text too long for its box).
// The server answers with the very check it runs on agreeing, so the warning
// and the refusal agree; nothing is stored. One small request per pause in
// typing keeps it light on a phone; without script the server still refuses.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  if (!form || !window.fetch) { return; }
  var url = form.getAttribute("data-check");
  var tokenField = form.querySelector("input[name='_csrf_token']");
  var inputs = form.querySelectorAll("input[name^='box_']");
  var timer = null;
  var pending = null;

  function show(problems) {
    inputs.forEach(function (input) {
      var id = input.name.slice(4);
      var out = document.getElementById(input.id + "-problem");
      var message = problems[id] || "";
      if (out && out.textContent !== message) { out.textContent = message; }
      if (message) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
    });
  }

  function check() {
    var body = new URLSearchParams();
    inputs.forEach(function (input) { body.append(input.name, input.value); });
    if (pending) { pending.abort(); }
    pending = window.AbortController ? new AbortController() : null;
    fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "x-csrftoken": tokenField ? tokenField.value : "" },
      signal: pending ? pending.signal : undefined
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (answer) {
      if (answer && answer.problems) { show(answer.problems); }
    }).catch(function () { /* offline or aborted: the server checks again on agreeing */ });
  }

  form.addEventListener("input", function (ev) {
    if (!ev.target.name || ev.target.name.indexOf("box_") !== 0) { return; }
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 400);
  });
})();
