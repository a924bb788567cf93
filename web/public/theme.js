// Applies the stored theme before the first paint, so a reload never flashes the wrong colours.
// A file rather than an inline script: the page's Content-Security-Policy allows only jeny's own
// scripts.
try {
  const theme = localStorage.getItem('jeny.theme');
  if (theme === 'dark' || theme === 'light') document.documentElement.dataset.theme = theme;
} catch {
  // no storage (a private window): the system's theme applies
}
