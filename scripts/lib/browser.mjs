// Headless Debian Chromium driven by playwright-core (Playwright's own browser download is not
// reachable offline, so its executablePath is always the system one).
import fs from 'node:fs';
import { chromiumPath } from './bootstrap.mjs';

export async function launchChromium() {
  if (!fs.existsSync(chromiumPath)) throw new Error(`Chromium not found at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH)`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}
