/* The questionnaire without JavaScript works; with it, a worker finds a condition
   by typing a word ("dect", "attente") and sees how much description is left.
   No inline script: the CSP forbids them. */
(function () {
  "use strict";

  function normalise(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function setUpFilter(box) {
    var input = box.querySelector("input[type=search]");
    var status = box.querySelector("[data-filter-status]");
    var items = Array.prototype.slice.call(document.querySelectorAll("[data-search]"));
    var groups = Array.prototype.slice.call(document.querySelectorAll("[data-category]"));
    items.forEach(function (item) {
      item.setAttribute("data-normalised", normalise(item.getAttribute("data-search")));
    });
    box.hidden = false;

    function apply() {
      var words = normalise(input.value).split(/\s+/).filter(Boolean);
      var shown = 0;
      items.forEach(function (item) {
        var haystack = item.getAttribute("data-normalised");
        var ticked = item.querySelector("input").checked;
        var match = words.every(function (word) { return haystack.indexOf(word) !== -1; });
        item.hidden = !(match || ticked); // a ticked box never disappears
        if (!item.hidden) { shown += 1; }
      });
      groups.forEach(function (group) {
        group.hidden = !group.querySelector("[data-search]:not([hidden])");
      });
      status.textContent = words.length
        ? status.getAttribute("data-template").replace("{n}", String(shown)) : "";
    }

    input.addEventListener("input", apply);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); } // Enter filters, it does not send
    });
  }

  function setUpCounter(counter) {
    var field = document.getElementById("description");
    if (!field) { return; }
    var limit = parseInt(field.getAttribute("maxlength"), 10) || 2000;
    function update() {
      counter.textContent = counter.getAttribute("data-template")
        .replace("{n}", String(Math.max(0, limit - field.value.length)));
    }
    field.addEventListener("input", update);
    update();
  }

  // A condition's offer types show once it is ticked; unticking it clears them.
  function setUpTypes(row) {
    var condition = row.querySelector("input[name=conditions]");
    var types = row.querySelector("[data-types]");
    if (!condition || !types) { return; }
    var boxes = Array.prototype.slice.call(types.querySelectorAll("input"));
    function sync() {
      if (!condition.checked) {
        boxes.forEach(function (box) { box.checked = false; });
      }
      types.hidden = !condition.checked;
    }
    if (boxes.some(function (box) { return box.checked; })) { condition.checked = true; }
    condition.addEventListener("change", sync);
    sync();
  }

  // A visit older than the TTL counts only as history: say so as soon as the date is typed
  // (without JavaScript the server says it and asks to confirm before storing anything).
  function setUpLateHint(hint) {
    var field = document.getElementById("visit_date");
    if (!field) { return; }
    var before = hint.getAttribute("data-late-before");
    function update() {
      // ISO dates compare as text; an empty or unfinished date shows nothing.
      hint.hidden = !(/^\d{4}-\d{2}-\d{2}$/.test(field.value) && field.value < before);
    }
    field.addEventListener("input", update);
    field.addEventListener("change", update);
    update();
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-condition]"), setUpTypes);
  var lateHint = document.querySelector("[data-late-hint]");
  if (lateHint) { setUpLateHint(lateHint); }
  var box = document.querySelector("[data-condition-filter]");
  if (box) { setUpFilter(box); }
  var counter = document.querySelector("[data-counter]");
  if (counter) { setUpCounter(counter); }
}());
