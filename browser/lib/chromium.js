// Launches Debian's Chromium (/usr/bin/chromium, from apt: never a browser
// download) through playwright-core, headless, with the flags this machine's
// closed network needs: without the background-networking ones Chromium
// keeps dialling Google's hosts and gets refused. Extra flags (for example
// --host-resolver-rules, which maps an SDK's customBaseUrl host name to
// Latch's TLS port) come from the caller.
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';

export const executablePath = process.env.LATCH_CHROMIUM || '/usr/bin/chromium';

export async function launchChromium(extraArgs = []) {
  if (!existsSync(executablePath)) {
    // CI installs it (scripts/test); a missing browser is a failure, not a skip.
    throw new Error(`no Chromium at ${executablePath}: apt-get install chromium (or set LATCH_CHROMIUM)`);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox', // CI runs as root
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}
