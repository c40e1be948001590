/* Live status of submissions: poll each [data-status-url] until its run is finished.
 * Fields inside it with [data-field=NAME] get the JSON's NAME_display or NAME. */
(function () {
  "use strict";
  var nodes = document.querySelectorAll("[data-status-url]");
  if (!nodes.length || !window.fetch) return;

  function render(node, s) {
    node.dataset.status = s.status;
    node.querySelectorAll("[data-field]").forEach(function (el) {
      var name = el.dataset.field, value;
      if (name === "progress") {
        el.hidden = s.status !== "running";
        el.max = s.time_limit_seconds;
        el.value = Math.min(s.elapsed_seconds || 0, s.time_limit_seconds);
        return;
      }
      if (name === "queue") {
        value = s.status === "queued" && s.queue_position ? "position " + s.queue_position + " in the queue" : "";
        if (s.status === "running") value = (s.elapsed_display || "0 s") + " of " + s.time_limit_display;
      } else {
        value = s[name + "_display"] !== undefined ? s[name + "_display"] : s[name];
      }
      el.textContent = value === null || value === undefined ? "" : value;
      if (name === "status") el.className = "badge " + s.status;
    });
    node.querySelectorAll("[data-failure]").forEach(function (el) {
      el.hidden = !s.failure_kind;
      if (!s.failure_kind || el.tagName === "DT") return;
      var strong = document.createElement("strong");
      strong.textContent = s.failure_display;
      el.replaceChildren();
      if (el.tagName === "SPAN") el.appendChild(document.createElement("br"));
      el.append(strong, ": " + s.failure_message);
    });
  }

  function poll(node, delay) {
    fetch(node.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (s) {
        var before = node.dataset.status;
        render(node, s);
        if (s.finished) {
          if (before !== s.status && node.dataset.reloadWhenFinished !== undefined) window.location.reload();
          return;
        }
        setTimeout(function () { poll(node, 2000); }, 2000);
      })
      .catch(function () { setTimeout(function () { poll(node, Math.min(delay * 2, 30000)); }, delay); });
  }

  nodes.forEach(function (node) {
    if (node.dataset.status === "scored" || node.dataset.status === "failed" || node.dataset.status === "cancelled") return;
    poll(node, 2000);
  });
})();
