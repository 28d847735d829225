// Staff forms keep every entry when the platform refuses them.
//
// A form of the main content is sent in the background (htmx, on every page already,
// boosted form). A refusal the person can correct (400, 409, 413, 422, 423) leaves the
// page and every entry as they are and shows the reason next to the field it concerns
// (the refusal page names it in data-field) or at the top of the form; anything else
// (the next page, a confirmation, "not found", a server error) is shown as usual.
// Without script the form posts normally and the refusal page offers a way back.
(function () {
  "use strict";
  const CORRECTABLE = new Set([400, 409, 413, 422, 423]);
  let counter = 0;

  function enhance(root) {
    const forms = root.querySelectorAll("main form[method=post]");
    for (const form of forms) {
      if (form.hasAttribute("hx-post") || form.hasAttribute("data-plain") || form.closest(".contractor")) { continue; }
      form.setAttribute("hx-boost", "true");
    }
    if (window.htmx) { window.htmx.process(root); }
  }

  function clear(form) {
    for (const old of form.querySelectorAll(".field-error, .form-errors")) { old.remove(); }
    for (const bad of form.querySelectorAll("[aria-invalid=true]")) {
      bad.removeAttribute("aria-invalid");
      const kept = (bad.getAttribute("aria-describedby") || "").split(" ").filter((id) => !id.startsWith("form-error-"));
      if (kept.length) { bad.setAttribute("aria-describedby", kept.join(" ")); } else { bad.removeAttribute("aria-describedby"); }
    }
  }

  function show(form, message, fieldName) {
    clear(form);
    const id = `form-error-${++counter}`;
    const control = fieldName ? form.querySelector(`[name="${CSS.escape(fieldName)}"]`) : null;
    const note = document.createElement(control ? "p" : "div");
    note.id = id;
    note.setAttribute("role", "alert");
    note.textContent = message;
    if (control && control.type !== "hidden") {
      note.className = "field-error";
      control.insertAdjacentElement("afterend", note);
      control.setAttribute("aria-invalid", "true");
      const described = control.getAttribute("aria-describedby");
      control.setAttribute("aria-describedby", described ? `${described} ${id}` : id);
      control.focus();
    } else {
      note.className = "form-errors";
      note.tabIndex = -1;
      form.insertAdjacentElement("afterbegin", note);
      note.focus();
    }
  }

  document.addEventListener("htmx:beforeSwap", (event) => {
    // The event is triggered on the swap target (the body); the form that sent the request is the config's.
    const config = event.detail.requestConfig;
    const elt = config && config.elt ? config.elt : event.detail.elt;
    const form = elt && elt.closest ? elt.closest("form[hx-boost]") : null;
    if (!form) { return; }
    const xhr = event.detail.xhr;
    if (CORRECTABLE.has(xhr.status)) {
      event.detail.shouldSwap = false;
      event.detail.isError = false;
      const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      const alert = page.querySelector("main [role=alert]");
      const named = page.querySelector("main [data-field]");
      show(form, alert ? alert.textContent.trim() : xhr.statusText, named ? named.getAttribute("data-field") : "");
    } else if (xhr.status >= 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSettle", (event) => { enhance(event.detail.elt || document); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => enhance(document));
  } else {
    enhance(document);
  }
})();
