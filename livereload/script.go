package livereload

// script is served at /.vigil/livereload.js; __GEN__ and __INSTANCE__ are
// replaced by the generation and instance at the time it is served, which
// is right after the page that loads it.
const script = `// vigil live reload
(function () {
  if (window.__vigilLiveReload) return;
  window.__vigilLiveReload = true;
  var gen = __GEN__, instance = "__INSTANCE__";
  function base(p) { p = p.split("?")[0].split("#")[0]; return p.slice(p.lastIndexOf("/") + 1); }
  function swapCSS(paths) {
    var names = {}, links = document.querySelectorAll('link[rel~="stylesheet"]'), hit = [];
    paths.forEach(function (p) { names[base(p)] = true; });
    links.forEach(function (l) { if (names[base(l.getAttribute("href") || "")]) hit.push(l); });
    if (hit.length === 0) hit = Array.prototype.slice.call(links);
    hit.forEach(function (old) {
      var u = new URL(old.href, location.href);
      u.searchParams.set("vigil", String(gen));
      var l = old.cloneNode();
      l.href = u.toString();
      l.onload = l.onerror = function () { old.remove(); };
      old.after(l);
    });
  }
  function connect() {
    var es = new EventSource("/.vigil/events");
    es.addEventListener("hello", function (e) {
      var d = JSON.parse(e.data);
      if (d.instance !== instance || d.generation > gen) location.reload();
    });
    es.addEventListener("reload", function () { es.close(); location.reload(); });
    es.addEventListener("css", function (e) {
      gen = Number(e.lastEventId) || gen + 1;
      swapCSS(JSON.parse(e.data).paths || []);
    });
    es.onerror = function () {
      // The browser retries by itself unless it gave up (CLOSED).
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
    };
  }
  connect();
})();
`
