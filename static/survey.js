// Link and invitation pages, on top of forms that work without script:
// a page opened from a score link saves that score at once (the click is the
// answer), and a follow-up the server refuses keeps what the visitor wrote.
(function () {
  "use strict";

  function send(form, keepalive) {
    // keepalive: the request is finished even when the tab is closed at once.
    return fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      keepalive: keepalive,
    });
  }

  function saveScore(form) {
    var status = document.getElementById("saving");
    if (status) status.hidden = false;
    form.setAttribute("data-state", "saving");
    send(form, true).then(
      function (response) {
        if (response.ok && response.redirected) {
          window.location.replace(response.url);
        } else {
          form.submit(); // the server's own page says what happened
        }
      },
      function () {
        // Offline or cut off: the chosen score stays for the Send button.
        if (status) status.hidden = true;
        form.removeAttribute("data-state");
      }
    );
  }

  function say(form, text) {
    var line = document.getElementById("comment-error");
    if (!line) {
      line = document.createElement("p");
      line.className = "error";
      line.id = "comment-error";
      line.setAttribute("role", "alert");
      form.insertBefore(line, form.querySelector("label"));
      var comment = form.querySelector("textarea[name=comment]");
      if (comment) {
        var described = comment.getAttribute("aria-describedby") || "";
        comment.setAttribute("aria-describedby", ("comment-error " + described).trim());
      }
    }
    line.textContent = text;
  }

  // The one line a refusal's page says: the form's error, else the message.
  function reason(html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var found = page.querySelector("#comment-error") || page.querySelector("main h1 + p");
    return found ? found.textContent.trim() : "";
  }

  function keepFollowUp(form) {
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (button) button.disabled = true;
      send(form, false)
        .then(function (response) {
          if (response.ok && response.redirected) {
            window.location.replace(response.url);
            return null;
          }
          if (response.status === 409) {
            // Given before, from another tab: the first stands, nothing failed.
            window.location.replace(form.getAttribute("data-done"));
            return null;
          }
          return response.text().then(reason);
        })
        .catch(function () {
          return "";
        })
        .then(function (text) {
          if (text === null) return;
          say(form, text || form.getAttribute("data-failed"));
          if (button) button.disabled = false;
        });
    });
  }

  function start() {
    var score = document.querySelector("form[data-autosave]");
    if (score) saveScore(score);
    var followUp = document.querySelector("form.comment");
    if (followUp) keepFollowUp(followUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
