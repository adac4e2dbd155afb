// The console's own script (served from Silo, no inline script): the copy buttons. Everything else
// works with plain forms and links, or htmx attributes.
document.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('[data-copy]') : null;
  if (!button) return;
  const source = document.getElementById(button.getAttribute('data-copy'));
  if (!source) return;
  const text = source.textContent ?? '';
  const done = () => {
    button.textContent = 'Copied';
  };
  // The clipboard API needs a secure context (https or localhost); elsewhere the text is selected
  // and copied the older way.
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => selectAndCopy(source, done));
  } else {
    selectAndCopy(source, done);
  }
});

function selectAndCopy(element, done) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  if (document.execCommand('copy')) done();
}
