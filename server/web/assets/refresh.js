// Live refresh of a table in place (the fleet table, the groups table): for each table with a
// data-fragment URL, every data-refresh seconds while the tab is visible, fetch that URL (same
// origin, the session cookie) and swap in the elements named by data-swap (IDs, comma-separated;
// the first is required: the table body). No inline script, no eval: the page's
// Content-Security-Policy (script-src 'self') holds. Without this script the pages still work;
// they just do not refresh themselves.
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser) return;
  var note = document.getElementById("refresh-note");

  function live(table) {
    var url = table.getAttribute("data-fragment");
    var ids = (table.getAttribute("data-swap") || "").split(",").filter(function (s) { return s; });
    if (!url || ids.length === 0) return;
    var every = Math.max(2, parseInt(table.getAttribute("data-refresh"), 10) || 15) * 1000;
    var stopped = false;

    function say(msg) { if (note) note.textContent = msg; }

    function refresh() {
      if (stopped || document.hidden) return;
      fetch(url, { credentials: "same-origin", redirect: "manual", headers: { "Accept": "text/html" } })
        .then(function (resp) {
          if (resp.type === "opaqueredirect" || resp.status === 401 || resp.status === 403) {
            stopped = true;
            say("Your session ended: reload the page to sign in again.");
            return null;
          }
          if (!resp.ok) throw new Error("HTTP " + resp.status);
          return resp.text();
        })
        .then(function (text) {
          if (text === null) return;
          // DOMParser builds an inert document: nothing in it runs.
          var doc = new DOMParser().parseFromString(text, "text/html");
          var tpl = doc.getElementById("fragment");
          var src = tpl ? tpl.content : doc;
          if (!src.querySelector("#" + ids[0])) throw new Error("no rows in the answer");
          ids.forEach(function (id) {
            var fresh = src.querySelector("#" + id);
            var old = document.getElementById(id);
            if (fresh && old) old.parentNode.replaceChild(document.importNode(fresh, true), old);
          });
          table.setAttribute("data-refreshed", new Date().toISOString());
          say("Refreshed " + new Date().toLocaleTimeString() + "; next in " + every / 1000 + " s.");
        })
        .catch(function (err) {
          say("Refresh failed (" + err.message + "); retrying in " + every / 1000 + " s.");
        });
    }

    setInterval(refresh, every);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  }

  Array.prototype.forEach.call(document.querySelectorAll("table[data-fragment]"), live);
})();
