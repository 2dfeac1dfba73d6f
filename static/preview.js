// The survey editor's preview frame: when the editor's switch names a
// segment, this answers that segment's score for the admin once the real
// widget's card is open, and for a thank-you stage sends the empty
// follow-up too. Once the widget closes (its thank-you ends, or the admin
// closes it), a button shows it again. The widget itself is the unchanged
// /widget.js.
(function () {
  "use strict";
  var tag = document.currentScript;
  var score = tag && tag.getAttribute("data-score");
  var thanks = tag && tag.hasAttribute("data-thanks");
  var AGAIN = "nps-beacon:preview-again";

  document.addEventListener("DOMContentLoaded", function () {
    var again = document.getElementById("preview-again");
    if (!again) return;
    var opened = !!document.querySelector("nps-beacon");
    again.addEventListener("click", function () {
      // The editor loads the frame again: a reload from this sandboxed page
      // would go without the admin's session.
      window.parent.postMessage(AGAIN, "*");
    });
    new MutationObserver(function () {
      var open = !!document.querySelector("nps-beacon");
      opened = opened || open;
      again.hidden = open || !opened;
    }).observe(document.body, { childList: true });
  });

  if (!score) return;
  var TRIES = 100; // 10 s in steps of 100 ms
  var STEP_MS = 100;

  function card() {
    var host = document.querySelector("nps-beacon");
    return host && host.shadowRoot;
  }

  function waitFor(find, then, tries) {
    var found = find();
    if (found) then(found);
    else if (tries > 0)
      window.setTimeout(function () {
        waitFor(find, then, tries - 1);
      }, STEP_MS);
  }

  waitFor(
    function () {
      var root = card();
      return root && root.querySelector("input[name='score'][value='" + score + "']");
    },
    function (radio) {
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
      if (!thanks) return;
      waitFor(
        function () {
          var root = card();
          return root && root.querySelector("form .send");
        },
        function (send) {
          send.click();
        },
        TRIES
      );
    },
    TRIES
  );
})();
