// The harness itself: Debian's Chromium starts under playwright-core and runs
// a page's script. Every other suite in this folder builds on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from './lib/chromium.js';

test('Debian Chromium runs a page', async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.setContent('<p id="p">ready</p><script>document.getElementById("p").textContent += " and scripted"</script>');
    assert.equal(await page.textContent('#p'), 'ready and scripted');
  } finally {
    await browser.close();
  }
});
