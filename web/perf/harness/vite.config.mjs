// A dev server for the LogView alone, with a mock of the deploy output API:
//   /api/v1/deploys/plain-N/output        N plain lines, streamed in 64 KiB pieces
//   /api/v1/deploys/color-N/output        N lines with ANSI colours, \r progress lines, [jeny] lines
//   /api/v1/deploys/live-N/output (SSE)   N lines over about 5 s, then `end`
// Run: npx vite --config perf/harness/vite.config.mjs  (from web/)
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const E = '\x1b';

function lineOf(kind, i) {
  if (kind !== 'color') return `line ${i + 1}`;
  switch (i % 7) {
    case 0: return `${E}[32mINFO${E}[0m request ${i} served in ${(i % 97) + 1}ms`;
    case 1: return `${E}[1;31merror:${E}[0m something failed at step ${i}`;
    case 2: return `${E}[38;5;208mwarn${E}[39m: ${E}[4munderlined${E}[24m ${E}[38;2;120;80;255mtruecolor${E}[0m`;
    case 3: return `progress 10%\rprogress 50%\rprogress 100% (${i})`;
    case 4: return `[jeny] note ${i}`;
    case 5: return `${E}[2K${E}[1G${E}[7m inverse ${E}[27m ${E}[3mitalic${E}[23m ${E}[2mdim${E}[22m`;
    default: return `plain ${i} ` + 'x'.repeat(i % 200);
  }
}

function mock() {
  return {
    name: 'mock-output',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const match = /^\/api\/v1\/deploys\/([a-z]+)-(\d+)\/output/.exec(req.url ?? '');
        if (!match) return next();
        const [, kind, n] = match;
        const count = Number(n);
        if (kind === 'live') {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          let i = Number(req.headers['last-event-id'] ?? 0) * 100;
          let seq = Number(req.headers['last-event-id'] ?? 0);
          const timer = setInterval(() => {
            const chunks = [];
            for (let k = 0; k < 100 && i < count; k++, i++) {
              const stream = i % 5 === 0 ? 'stderr' : 'stdout';
              // Split lines over chunks to exercise the partial line.
              const text = lineOf('color', i) + '\n';
              const cut = Math.floor(text.length / 2);
              const at = new Date().toISOString().replace('Z', '123Z');
              chunks.push({ stream, at, text: text.slice(0, cut) }, { stream, at, text: text.slice(cut) });
            }
            seq++;
            res.write(`id: ${seq}\nevent: output\ndata: ${JSON.stringify({ seq, chunks })}\n\n`);
            if (i >= count) {
              res.write(`event: end\ndata: ${JSON.stringify({ id: `live-${n}`, status: 'succeeded' })}\n\n`);
              clearInterval(timer);
              res.end();
            }
          }, 50);
          req.on('close', () => clearInterval(timer));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        let i = 0;
        const pump = () => {
          let piece = '';
          while (piece.length < 65536 && i < count) piece += lineOf(kind, i++) + '\n';
          if (piece) res.write(piece);
          if (i >= count) return res.end();
          setImmediate(pump);
        };
        pump();
      });
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  plugins: [mock()],
  server: { port: 5199, strictPort: true },
});
