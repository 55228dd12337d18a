// Copy buttons for payment numbers: shown only when the browser can copy, announced to
// screen readers. Served from the portal's own origin, so the page's CSP allows it.
(function () {
  if (!navigator.clipboard) return;
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      if (!source) return;
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        var status = button.closest("section.pay").querySelector(".copy-status");
        if (status) status.textContent = status.dataset.copied;
        button.classList.add("copied");
      });
    });
  });
})();
