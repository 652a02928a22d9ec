/*
 * Keys pressed before the inbox script has started.
 *
 * inbox.js is deferred, so on a slow connection or a busy machine the list and the composer
 * can be on screen, and the agent typing, before the script that handles their keys has run.
 * This tiny script is loaded first, without defer. It keeps the keys inbox.js would have acted
 * on (a shortcut outside text fields, Enter in the composer) and inbox.js carries them out,
 * oldest first, once it is ready: no shortcut is lost and Enter never becomes a stray new line.
 */
(function () {
  "use strict";

  var SHORTCUTS = { j: 1, k: 1, r: 1, n: 1, e: 1, a: 1, "/": 1, "?": 1 }; // as in inbox.js
  var FOCUSING = { r: 1, n: 1, "/": 1 }; // shortcuts that put the cursor in a text field
  var queued = [];
  var closed = false;

  function isTyping(target) {
    return Boolean(
      target &&
        target.closest &&
        target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"),
    );
  }

  function keep(event) {
    var target = event.target;
    if (closed || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) {
      return;
    }
    if (target && target.id === "composer-text" && event.key === "Enter" && !event.shiftKey) {
      // Sent later only if the text is still what it was when Enter was pressed.
      queued.push({ key: "Enter", target: target, text: target.value });
      event.preventDefault();
    } else if (SHORTCUTS[event.key] && !isTyping(target)) {
      queued.push({ key: event.key, target: target });
      event.preventDefault();
      // After r, n or /, the agent types text meant for a field that has no cursor yet: those
      // letters must not become shortcuts (e resolves, a assigns). They are not kept.
      closed = Boolean(FOCUSING[event.key]);
    }
  }

  function stop() {
    document.removeEventListener("keydown", keep, true);
    window.parleyTakeEarlyKeys = null;
    var kept = queued;
    queued = [];
    return kept;
  }

  document.addEventListener("keydown", keep, true);

  /* Called once by inbox.js: stops keeping keys and hands over what was kept. */
  window.parleyTakeEarlyKeys = stop;

  // inbox.js takes over before the load event; if it never does (it failed to load), stop
  // swallowing keys and drop what was kept.
  window.addEventListener("load", function () {
    if (window.parleyTakeEarlyKeys) {
      stop();
    }
  });
})();
