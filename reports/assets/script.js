// Optional conveniences; the report reads fully without them.
(function () {
  "use strict";
  document.documentElement.setAttribute("data-js", "on");
  var section = document.getElementById("checks");
  var table = section && section.querySelector("table.checks");
  if (!table) {
    return;
  }
  var rows = table.querySelectorAll("tr.check");
  var bar = document.createElement("div");
  bar.className = "toolbar";
  bar.id = "check-toolbar";
  function button(label, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", onClick);
    bar.appendChild(b);
    return b;
  }
  var onlyFailures = false;
  var filter = button("Only failures", function () {
    onlyFailures = !onlyFailures;
    for (var i = 0; i < rows.length; i++) {
      rows[i].hidden = onlyFailures && rows[i].getAttribute("data-status") !== "fail";
    }
    filter.setAttribute("aria-pressed", String(onlyFailures));
    filter.textContent = onlyFailures ? "All checks" : "Only failures";
  });
  filter.setAttribute("aria-pressed", "false");
  function setOpen(open) {
    var ds = section.querySelectorAll("details");
    for (var i = 0; i < ds.length; i++) {
      ds[i].open = open;
    }
  }
  button("Expand all", function () { setOpen(true); });
  button("Collapse all", function () { setOpen(false); });
  section.insertBefore(bar, table);
})();
