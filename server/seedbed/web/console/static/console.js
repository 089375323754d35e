// Live updates: the server's event stream says *that* something changed; htmx then
// fetches the page's live parts again (hx-trigger="changed from:body").
(function () {
  if (!window.EventSource || !window.htmx) return;
  var stream = null;
  function redraw() { htmx.trigger(document.body, "changed"); }
  function connect() {
    stream = new EventSource("/console/live");
    // hello carries what the server knows now; the page says what it was rendered from.
    stream.addEventListener("hello", function (e) {
      if (e.data !== document.body.dataset.news) redraw();
      document.body.dataset.news = e.data;
    });
    stream.addEventListener("changed", function (e) {
      document.body.dataset.news = e.data;
      redraw();
    });
    // A refused stream (every slot taken: 503) is not retried by EventSource itself.
    stream.addEventListener("error", function () {
      if (stream.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    });
  }
  connect();
  window.addEventListener("pagehide", function () { if (stream) stream.close(); });
})();
