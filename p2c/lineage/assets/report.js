// Search over the report: a column stays visible when every word of the query occurs in its search text
// (names, sources, export headers, rule, tests, SQL). `#q=<words>` in the URL pre-fills the search, so a link
// can point at a filtered view and a headless browser can test it.
(function () {
  "use strict";
  var input = document.getElementById("search");
  var articles = Array.prototype.slice.call(document.querySelectorAll("article.column"));
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.table"));
  var links = Array.prototype.slice.call(document.querySelectorAll("nav#toc a[data-target]"));
  var counter = document.getElementById("count");
  var noMatch = document.getElementById("no-match");

  function apply(query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    var visible = {};
    var shown = 0;
    articles.forEach(function (article) {
      var text = article.getAttribute("data-search");
      var hit = words.every(function (w) { return text.indexOf(w) >= 0; });
      article.hidden = !hit;
      if (hit) { visible[article.id] = true; shown += 1; }
    });
    sections.forEach(function (section) {
      section.hidden = section.querySelector("article.column:not([hidden])") === null;
    });
    links.forEach(function (link) { link.hidden = !visible[link.getAttribute("data-target")]; });
    counter.textContent = shown + " of " + articles.length + " columns";
    noMatch.hidden = shown !== 0;
    document.body.setAttribute("data-query", words.join(" "));
  }

  function fromHash() {
    var match = /(?:^#|&)q=([^&]*)/.exec(window.location.hash);
    return match ? decodeURIComponent(match[1].replace(/\+/g, " ")) : "";
  }

  input.addEventListener("input", function () { apply(input.value); });
  window.addEventListener("hashchange", function () { input.value = fromHash(); apply(input.value); });
  input.value = fromHash();
  apply(input.value);
})();
