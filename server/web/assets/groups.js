// Live refresh of the groups table (pins, rollouts' progress and the actions their state
// allows), as fleet.js refreshes the fleet table: every data-refresh seconds while the tab is
// visible, fetch data-fragment (same origin, the session cookie) and swap the table body. No
// inline script, no eval: the Content-Security-Policy (script-src 'self') holds. The pin and
// rollout-policy forms sit outside the table, so a refresh never wipes what is being typed.
// Without this script the page still works; it just does not refresh itself.
(function () {
  "use strict";
  var table = document.getElementById("groups");
  if (!table || !window.fetch || !window.DOMParser) return;
  var url = table.getAttribute("data-fragment");
  var every = Math.max(2, parseInt(table.getAttribute("data-refresh"), 10) || 5) * 1000;
  var note = document.getElementById("refresh-note");
  var stopped = false;

  function stop(msg) {
    stopped = true;
    if (note) note.textContent = msg;
  }

  function refresh() {
    if (stopped || document.hidden) return;
    fetch(url, { credentials: "same-origin", redirect: "manual", headers: { "Accept": "text/html" } })
      .then(function (resp) {
        if (resp.type === "opaqueredirect" || resp.status === 401 || resp.status === 403) {
          stop("Your session ended: reload the page to sign in again.");
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
        var body = (tpl ? tpl.content : doc).querySelector("#groups-body");
        if (!body) throw new Error("no rows in the answer");
        var old = document.getElementById("groups-body");
        old.parentNode.replaceChild(document.importNode(body, true), old);
        table.setAttribute("data-refreshed", new Date().toISOString());
        if (note) note.textContent = "Refreshed " + new Date().toLocaleTimeString() + "; next in " + every / 1000 + " s.";
      })
      .catch(function (err) {
        if (note) note.textContent = "Refresh failed (" + err.message + "); retrying in " + every / 1000 + " s.";
      });
  }

  setInterval(refresh, every);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
})();
