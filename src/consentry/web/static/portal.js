// Copy buttons: <button data-copy="element-id"> copies that element's text.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) { return; }
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) { return; }
  var text = source.value !== undefined ? source.value : source.textContent;
  var status = document.getElementById("copy-status");
  var confirm = function () {
    button.textContent = "Copied";
    // The button's aria-label hides its text from screen readers: the live region says it instead.
    if (status) { status.textContent = (button.getAttribute("aria-label") || "Copy").replace(/^Copy/, "Copied"); }
    setTimeout(function () { button.textContent = "Copy"; if (status) { status.textContent = ""; } }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text.trim()).then(confirm, function () {});
  }
});
// Confirmations: <form data-confirm="question"> asks before submitting.
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) { event.preventDefault(); }
});
// A confirmation shown after a change takes the focus, so that screen readers read it on arrival.
document.addEventListener("DOMContentLoaded", function () {
  var shown = document.getElementById("confirmation");
  if (shown) { shown.focus(); }
});
