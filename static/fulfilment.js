// Keeps an order's "being prepared" section current without a reload (issue 18).
//
// Same-origin only, so the portal's Content-Security-Policy (default-src 'self') holds.
// Asks /orders/<id>/fulfilment.json with backoff (4 s, then 1.5 times longer, at most a
// minute); when the files are there it fetches the order page once and puts its new parts
// in place, then stops. A background tab stops asking after ten minutes and asks again
// when it is shown; after two hours the page stops and says to reload.
(function () {
  "use strict";
  var box = document.getElementById("fulfilment");
  if (!box || !window.fetch || !window.DOMParser) return;

  var FIRST = 4000, FACTOR = 1.5, LONGEST = 60000;
  var HIDDEN_LIMIT = 10 * 60000, TOTAL_LIMIT = 2 * 3600000;
  var url = box.getAttribute("data-poll");
  var delay = FIRST, started = Date.now(), hiddenSince = document.hidden ? Date.now() : null;
  var timer = null, busy = false, stopped = false;

  // Announces changes that replace this section (a live region must exist before them).
  var announcer = document.createElement("p");
  announcer.className = "visually-hidden";
  announcer.setAttribute("role", "status");
  announcer.setAttribute("aria-live", "polite");
  document.body.appendChild(announcer);

  var hint = box.querySelector("[data-fulfilment-hint]");
  if (hint) hint.hidden = false;

  function schedule() {
    if (stopped) return;
    timer = window.setTimeout(poll, delay);
    delay = Math.min(delay * FACTOR, LONGEST);
  }

  function stop(sayWhy) {
    stopped = true;
    if (timer !== null) window.clearTimeout(timer);
    timer = null;
    if (sayWhy && hint) hint.textContent = box.getAttribute("data-stopped");
  }

  function poll() {
    timer = null;
    if (stopped || busy) return;
    if (Date.now() - started > TOTAL_LIMIT) return stop(true);
    // A tab in the background for a while waits until it is shown again.
    if (hiddenSince !== null && Date.now() - hiddenSince > HIDDEN_LIMIT) return;
    busy = true;
    fetch(url, { credentials: "same-origin", cache: "no-store",
                 headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 404) { stop(true); return null; }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        busy = false;
        if (data) show(data);
      })
      .catch(function () { busy = false; schedule(); });
  }

  function show(data) {
    if (data.finished) { stop(false); refreshPage(data.announcement || ""); return; }
    if (data.html && data.stage !== box.getAttribute("data-stage")) {
      box.querySelector(".fulfilment-state").innerHTML = data.html;
      box.setAttribute("data-stage", data.stage);
    }
    schedule();
  }

  // The files are there: show the page as it is now, keeping what the buyer already sees.
  function refreshPage(announcement) {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        var main = document.querySelector("main");
        if (!fresh || !main) throw new Error("no main");
        morph(main, fresh);
        announcer.textContent = announcement;
      })
      .catch(function () { window.location.reload(); });
  }

  // Replace the parts of <main> that changed, from this section on; notices above it
  // (such as "Thank you for your order") stay, though a fresh page no longer has them.
  function morph(main, fresh) {
    var mine = box;
    while (mine.parentElement && mine.parentElement !== main) mine = mine.parentElement;
    var freshHtml = {};
    Array.prototype.forEach.call(fresh.children, function (el) { freshHtml[el.outerHTML] = true; });
    var old = Array.prototype.slice.call(main.children);
    var from = old.indexOf(mine);
    old.forEach(function (el, i) { if (i >= from && !freshHtml[el.outerHTML]) el.remove(); });
    var anchor = null;
    Array.prototype.forEach.call(fresh.children, function (el) {
      var kept = Array.prototype.find.call(main.children, function (o) {
        return o.outerHTML === el.outerHTML;
      });
      if (kept) { anchor = kept; return; }
      var node = document.importNode(el, true);
      if (anchor) anchor.after(node); else main.prepend(node);
      anchor = node;
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { hiddenSince = Date.now(); return; }
    var wasWaiting = hiddenSince !== null && Date.now() - hiddenSince > HIDDEN_LIMIT;
    hiddenSince = null;
    if (wasWaiting && !stopped && timer === null && !busy) { delay = FIRST; poll(); }
  });

  schedule();
})();
