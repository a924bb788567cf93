// Vite builds the app into dist/, which the jeny binary embeds and serves at "/".
// Routes are history-API paths, so every asset URL is absolute (base "/").
import { defineConfig } from 'vitest/config';

export default defineConfig({
  base: '/',
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  test: {
    // Unit tests only: e2e/ holds Playwright's tests, run by `npm run e2e`.
    include: ['src/**/*.test.ts'],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
  },
  server: {
    // `npm run dev` proxies the API to a local jeny server (JENY_URL, default 127.0.0.1:8080).
    proxy: Object.fromEntries(
      ['/api', '/auth', '/healthz', '/readyz', '/metrics'].map((prefix) => [
        prefix,
        { target: process.env.JENY_URL ?? 'http://127.0.0.1:8080', changeOrigin: false },
      ]),
    ),
  },
});
