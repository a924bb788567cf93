// Writes .gz and .br siblings of every file in dist/ over 1 KB, so the jeny server can serve
// them precompressed. Uses only node's zlib; maximum compression, since it runs once per build.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const distDir = new URL('../dist/', import.meta.url).pathname;
const minimumBytes = 1024;

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}

let compressedCount = 0;
for (const path of walk(distDir)) {
  if (path.endsWith('.gz') || path.endsWith('.br')) continue;
  const content = readFileSync(path);
  if (content.length <= minimumBytes) continue;
  writeFileSync(`${path}.gz`, gzipSync(content, { level: 9 }));
  writeFileSync(
    `${path}.br`,
    brotliCompressSync(content, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: content.length,
      },
    }),
  );
  compressedCount += 1;
}
console.log(`compress: wrote .gz and .br for ${compressedCount} files in dist/`);
