// The README's "local development without a certificate": the SDK's
// undocumented client option endpoints.testAPIURL, without customBaseUrl,
// sends a test token's calls to a plain-HTTP `latch serve` as given (scheme
// and port kept). Checked here so that the README's claim stays true.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startLatch } from '../conformance/lib/latch.js';
import { poll } from '../conformance/lib/smtp.js';
import { launchChromium } from './lib/chromium.js';
import { codeIn } from './lib/harness.js';
import { startSite } from './lib/site.js';

let latch, site, browser, project;

before(async () => {
  latch = await startLatch();
  site = await startSite({ clientOptions: { endpoints: { testAPIURL: latch.url } } });
  project = await latch.createProject('Local development', [`${site.origin}/authenticate`], ['--sdk-origin', site.origin]);
  site.setPublicToken(project.public_token);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => {});
  await site?.close();
  await latch?.stop();
});

it('endpoints.testAPIURL points the SDK at a plain-HTTP Latch: an email passcode login, refresh and logout', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const origins = new Set();
  page.on('request', (r) => origins.add(new URL(r.url()).origin));
  await page.goto(`${site.origin}/headless`);
  const email = `local-${randomBytes(4).toString('hex')}@example.com`;
  const sent = await page.evaluate((e) => window.client.otps.email.loginOrCreate(e), email);
  const code = codeIn((await latch.mail.waitFor(email)).text);
  await page.evaluate(([c, m]) => window.client.otps.authenticate(c, m, { session_duration_minutes: 60 }), [code, sent.method_id]);
  const cookie = await poll(async () => (await context.cookies(site.origin)).find((c) => c.name === 'stytch_session')?.value, 'the stytch_session cookie');

  const auth = 'Basic ' + Buffer.from(`${project.project_id}:${project.secret}`).toString('base64');
  const check = (token) => fetch(`${latch.url}/v1/sessions/authenticate`, {
    method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ session_token: token }),
  });
  assert.equal((await check(cookie)).status, 200);
  const refreshed = await page.evaluate(() => window.client.session.authenticate().then((r) => r.session.session_id));
  assert.ok(refreshed);
  await page.evaluate(() => window.client.session.revoke());
  assert.equal((await check(cookie)).status, 404);
  assert.deepEqual([...origins].sort(), [latch.url, site.origin].sort(), 'the page called the plain-HTTP Latch and nothing else');
  await context.close();
});
