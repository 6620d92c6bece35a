// Board interactions: expand/collapse a row's explanation, select all rows for a bulk change.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (event) {
    var trigger = event.detail.elt;
    if (!trigger || !trigger.dataset || !trigger.dataset.why) return;
    var row = document.getElementById(trigger.dataset.why);
    if (row && row.dataset.loaded === "1") {
      event.preventDefault();
      row.hidden = !row.hidden;
      trigger.setAttribute("aria-expanded", row.hidden ? "false" : "true");
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.id || target.id.indexOf("why-") !== 0) return;
    var link = document.querySelector('[data-why="' + target.id + '"]');
    if (link) link.setAttribute("aria-expanded", "true");
  });
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-select-all]")) return;
    document.querySelectorAll('input[name="ids"]').forEach(function (other) {
      other.checked = box.checked;
    });
  });
})();
