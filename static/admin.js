// The admin pages' only script, progressive enhancement throughout: copy
// buttons (hidden without JavaScript; the text can be selected by hand), and
// on the survey form the error summary's focus, the kind's live texts,
// character counters and the long-question warning (the server checks and
// says the same after sending); on the CSV upload, a file too large is named
// before it is sent; the question editor shows the fields each type uses;
// the survey form shows one of its parts at a time.
(function () {
  "use strict";

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (error) {
      ok = false;
    }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return fallbackCopy(text);
      });
    }
    return fallbackCopy(text);
  }

  function setUp(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = button.nextElementSibling;
    if (!source) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      copy(source.textContent.trim()).then(
        function () {
          if (status) status.textContent = button.getAttribute("data-copied");
        },
        function () {
          if (status) status.textContent = button.getAttribute("data-failed");
        }
      );
    });
  }

  function each(selector, callback) {
    var found = document.querySelectorAll(selector);
    for (var i = 0; i < found.length; i += 1) {
      callback(found[i]);
    }
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return name in values ? String(values[name]) : whole;
    });
  }

  // Shows the form part holding an element; replaced by setUpSections.
  var reveal = function () {};

  // The survey form's parts: one shows at a time, picked by its link, by the
  // address's #fragment, or after a failed submit by the first error. Every
  // field stays in the one form (hidden, not disabled), so input in another
  // part is kept and Save sends and checks it all. Without this script the
  // links scroll to the parts of the whole page.
  function setUpSections(nav) {
    var sections = document.querySelectorAll("[data-section]");
    var links = nav.querySelectorAll("a[href^='#']");
    var part = document.querySelector("input[name='part']");
    if (!sections.length) return;
    function sectionOf(element) {
      return element && element.closest ? element.closest("[data-section]") : null;
    }
    function show(section) {
      for (var i = 0; i < sections.length; i += 1) {
        sections[i].hidden = sections[i] !== section;
      }
      for (var j = 0; j < links.length; j += 1) {
        var current = links[j].getAttribute("href") === "#" + section.id;
        if (current) links[j].setAttribute("aria-current", "true");
        else links[j].removeAttribute("aria-current");
      }
      // Saving comes back to this part (the server adds it to its redirect).
      if (part) part.value = section.id.replace(/^section-/, "");
      // What measures itself (the long-question warning) does so once shown.
      each("#" + section.id + " [data-long-after]", function (field) {
        field.dispatchEvent(new CustomEvent("admin:shown"));
      });
    }
    reveal = function (element) {
      var section = sectionOf(element);
      if (section && section.hidden) show(section);
    };
    // A part with errors says so in its link.
    for (var i = 0; i < links.length; i += 1) {
      var target = document.getElementById(links[i].getAttribute("href").slice(1));
      if (target && target.querySelector(".field-error")) {
        var mark = document.createElement("span");
        mark.className = "has-errors";
        mark.textContent = " (" + nav.getAttribute("data-error") + ")";
        links[i].appendChild(mark);
      }
      links[i].addEventListener("click", function (event) {
        var section = document.getElementById(this.getAttribute("href").slice(1));
        if (!section) return;
        event.preventDefault();
        show(section);
        // The address names the part, so a reload returns to it.
        window.history.replaceState(null, "", "#" + section.id);
        // Focusable only now: a #fragment on load must not take the focus
        // from the error summary.
        section.setAttribute("tabindex", "-1");
        section.focus({ preventScroll: true });
        nav.scrollIntoView({ block: "start" });
      });
    }
    function fromAddress() {
      var id = window.location.hash.slice(1);
      var named = id ? document.getElementById(id) : null;
      var section = sectionOf(named);
      if (section) show(section);
      return section;
    }
    window.addEventListener("hashchange", fromAddress);
    var first = document.querySelector("[data-section] .field-error");
    if (first) show(sectionOf(first));
    else if (!fromAddress()) show(sections[0]);
  }

  // After a failed submit the summary is read first; its links move the
  // focus to the field and show the field's label above it.
  function setUpSummary(summary) {
    summary.focus();
    each("#form-errors a[href^='#']", function (link) {
      link.addEventListener("click", function (event) {
        var field = document.getElementById(link.getAttribute("href").slice(1));
        if (!field) return;
        event.preventDefault();
        reveal(field);
        var label = document.querySelector("label[for='" + field.id + "']");
        (label || field).scrollIntoView({ block: "start" });
        field.focus({ preventScroll: true });
      });
    });
  }

  // The kind was chosen on the step before; here the list may change it,
  // and the placeholders and follow-up labels follow.
  function setUpKind(select) {
    function show(kind) {
      each("[data-placeholder-" + kind + "]", function (field) {
        field.placeholder = field.getAttribute("data-placeholder-" + kind);
      });
      each("[data-text-" + kind + "]", function (element) {
        element.textContent = element.getAttribute("data-text-" + kind);
      });
    }
    each("[data-kind-static]", function (element) {
      if (element.tagName === "INPUT") {
        element.disabled = true;
      } else {
        element.hidden = true;
      }
    });
    select.hidden = false;
    select.disabled = false;
    select.addEventListener("change", function () {
      show(select.value);
    });
    show(select.value);
  }

  // Screen readers hear the count once typing pauses, not at every key.
  var ANNOUNCE_AFTER_MS = 800;

  function setUpCounter(field) {
    var limit = Number(field.getAttribute("data-limit"));
    var counter = document.getElementById(field.id + "-count");
    var status = document.getElementById(field.id + "-status");
    var longAfter = Number(field.getAttribute("data-long-after")) || 0;
    var warning = document.getElementById(field.id + "-long");
    var preview = document.getElementById(field.id + "-preview");
    var timer = null;
    if (!counter) return;

    function lines(text) {
      var question = preview.querySelector(".phone-question");
      question.textContent = text;
      preview.hidden = false;
      var height = question.getBoundingClientRect().height;
      var lineHeight = parseFloat(window.getComputedStyle(question).lineHeight);
      return Math.max(1, Math.round(height / lineHeight));
    }

    function update(announce) {
      var text = field.value.trim();
      var count = text.length;
      var over = count - limit;
      var values = { count: count, max: limit, over: over };
      counter.textContent = fill(
        counter.getAttribute(over > 0 ? "data-over" : "data-count"),
        values
      );
      counter.classList.toggle("over", over > 0);
      if (status && announce) {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          status.textContent = fill(status.getAttribute("data-status"), values);
        }, ANNOUNCE_AFTER_MS);
      }
      // A field in a hidden part has no size to measure: the server's
      // words stay until it is shown.
      if (longAfter && warning && preview && field.getClientRects().length) {
        var long = count > longAfter;
        var message = long
          ? fill(warning.getAttribute("data-long"), { lines: lines(text) })
          : "";
        preview.hidden = !long;
        // Only a change is written, so the status is not announced again.
        if (warning.textContent !== message) warning.textContent = message;
      }
    }

    field.addEventListener("input", function () {
      update(true);
    });
    field.addEventListener("admin:shown", function () {
      update(false);
    });
    update(false);
  }

  // The server refuses a file past the limit too, but only after the whole
  // file has travelled; here the admin hears it at once.
  function setUpUpload(form) {
    var limit = Number(form.getAttribute("data-max-bytes"));
    var input = form.querySelector("input[type='file']");
    var status = document.getElementById("file-status");
    if (!limit || !input || !status) return;
    function tooLarge() {
      var file = input.files && input.files[0];
      return Boolean(file && file.size > limit);
    }
    input.addEventListener("change", function () {
      status.textContent = tooLarge() ? form.getAttribute("data-too-large") : "";
    });
    form.addEventListener("submit", function (event) {
      if (!tooLarge()) return;
      event.preventDefault();
      status.textContent = form.getAttribute("data-too-large");
      input.focus();
    });
  }

  // The question editor works as five fixed slots without JavaScript. Here
  // a slot shows only the fields its type uses, and unused slots wait behind
  // an "Add a question" button instead of filling the page.
  function setUpQuestions(button) {
    var slots = document.querySelectorAll("[data-question-slot]");
    function fit(slot) {
      var kind = slot.querySelector("select").value;
      var choice = kind === "single" || kind === "multiple" || kind === "tags";
      var fields = slot.querySelectorAll("[data-q-options]");
      for (var i = 0; i < fields.length; i += 1) fields[i].hidden = !choice;
      slot.querySelector("[data-q-max]").hidden = kind !== "tags";
    }
    function nextHidden() {
      for (var i = 0; i < slots.length; i += 1) if (slots[i].hidden) return slots[i];
      return null;
    }
    var shownUnused = false;
    for (var i = 0; i < slots.length; i += 1) {
      var slot = slots[i];
      fit(slot);
      slot.querySelector("select").addEventListener("change", fit.bind(null, slot));
      if (slot.hasAttribute("data-unused")) {
        // The first unused slot stays open, ready to fill in.
        slot.hidden = shownUnused;
        shownUnused = true;
      }
    }
    button.hidden = !nextHidden();
    button.addEventListener("click", function () {
      var slot = nextHidden();
      if (!slot) return;
      slot.hidden = false;
      button.hidden = !nextHidden();
      slot.querySelector("select").focus();
    });
  }

  // The live preview: the real widget in a sandboxed frame, reloaded with the
  // form's unsaved values once typing pauses. Only what the widget shows is
  // sent (never the CSRF token), and empty fields are left out of the URL.
  var PREVIEW_AFTER_MS = 400;
  var PREVIEW_SKIP = /^(csrf_token|origins|alert_emails|.*email_.*|recontact_days|sample_percent|delay_seconds|inbox_rule|anonymous)$/;

  function setUpPreview(pane) {
    var form = document.querySelector("form.survey-form");
    var frame = document.getElementById("preview-frame");
    var stage = document.getElementById("preview-stage");
    if (!form || !frame || !stage || !window.URLSearchParams || !window.FormData) return;
    var timer = null;
    var shown = "";
    function load() {
      var params = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (typeof value === "string" && value !== "" && !PREVIEW_SKIP.test(name)) {
          params.append(name, value);
        }
      });
      if (stage.value) params.set("stage", stage.value);
      var src = pane.getAttribute("data-preview") + "?" + params.toString();
      // A change that leaves the preview as it is does not restart the widget.
      if (src === shown) return;
      shown = src;
      frame.src = src;
    }
    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(load, PREVIEW_AFTER_MS);
    }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    stage.addEventListener("change", load);
    // The frame's "show again" button, once its widget has closed.
    window.addEventListener("message", function (event) {
      if (event.source === frame.contentWindow && event.data === "nps-beacon:preview-again") {
        frame.src = shown;
      }
    });
    pane.hidden = false;
    load();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var pane = document.querySelector("[data-preview]");
    if (pane) setUpPreview(pane);
    var sections = document.querySelector("[data-sections]");
    if (sections) setUpSections(sections);
    var addQuestion = document.querySelector("[data-add-question]");
    if (addQuestion) setUpQuestions(addQuestion);
    each("button[data-copy]", setUp);
    var summary = document.getElementById("form-errors");
    if (summary) setUpSummary(summary);
    var kind = document.querySelector("select[data-kind-switch]");
    if (kind) setUpKind(kind);
    each("[data-limit]", setUpCounter);
    each("form[data-max-bytes]", setUpUpload);
  });
})();
