/** Stops the jeny server that global-setup started (by its pid) and removes its data directory. */
import { existsSync, rmSync } from 'node:fs';
import { server, STATE_FILE } from './server';

export default async function globalTeardown(): Promise<void> {
  if (!existsSync(STATE_FILE)) return;
  const info = server();
  if (info.pid) {
    try {
      process.kill(info.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        process.kill(info.pid, 0);
      } catch {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  if (!process.env.JENY_E2E_KEEP) rmSync(info.dataDir, { recursive: true, force: true });
  rmSync(STATE_FILE, { force: true });
}
