// Sets <html data-theme> to the theme in effect before the first paint, so a reload never
// flashes the wrong colours: the person's choice (localStorage "jeny.theme"), else the system's.
// The CSS keys off data-theme alone. A file rather than an inline script: the page's
// Content-Security-Policy allows only jeny's own scripts.
let choice = null;
try {
  choice = localStorage.getItem('jeny.theme');
} catch {
  // no storage (a private window): the system's theme applies
}
const systemDark = window.matchMedia('(prefers-color-scheme: dark)').matches;
document.documentElement.dataset.theme =
  choice === 'dark' || choice === 'light' ? choice : systemDark ? 'dark' : 'light';
