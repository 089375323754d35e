// Live updates: the server's event stream says *that* something changed; htmx then
// fetches the page's live parts again (hx-trigger="changed from:body").
(function () {
  if (!window.EventSource || !window.htmx) return;
  var stream = new EventSource("/console/live");
  stream.addEventListener("changed", function () { htmx.trigger(document.body, "changed"); });
  window.addEventListener("pagehide", function () { stream.close(); });
})();
