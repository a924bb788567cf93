// The size budget: the gzipped size of the JavaScript that dist/index.html loads before the app
// can render (its module scripts and modulepreload links). Fails over 200 KB; prints the figure.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const budgetBytes = 200 * 1024;
const distDir = new URL('../dist/', import.meta.url).pathname;
const html = readFileSync(join(distDir, 'index.html'), 'utf8');

const initialScripts = new Set();
for (const match of html.matchAll(/<script[^>]*type="module"[^>]*src="([^"]+)"/g)) initialScripts.add(match[1]);
for (const match of html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)) initialScripts.add(match[1]);
if (initialScripts.size === 0) {
  console.error('budget: dist/index.html loads no module script; did the build run?');
  process.exit(1);
}

let totalGzipped = 0;
for (const src of initialScripts) {
  const content = readFileSync(join(distDir, src.replace(/^\//, '')));
  const gzipped = gzipSync(content, { level: 9 }).length;
  totalGzipped += gzipped;
  console.log(`  ${src}: ${(content.length / 1024).toFixed(1)} KB raw, ${(gzipped / 1024).toFixed(1)} KB gzipped`);
}
const verdict = totalGzipped <= budgetBytes ? 'within' : 'OVER';
console.log(`budget: initial JS ${(totalGzipped / 1024).toFixed(1)} KB gzipped (${verdict} the ${budgetBytes / 1024} KB budget)`);
if (totalGzipped > budgetBytes) process.exit(1);
