// examples/sdk-login, started the way its README says (`npm start`, here
// with its ports and Latch's name moved so that no root is needed: Chromium
// maps the name's port 443 to Latch's port) and used in Chromium: the
// backend sends a stranger to the login page, the prebuilt UI sends a
// magic link, the link signs in, the backend sees the session on every
// request, and logging out ends it.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, twilioConfig } from '../conformance/lib/latch.js';
import { startTwilio } from '../conformance/lib/twilio.js';
import { poll, startSMTP } from '../conformance/lib/smtp.js';
import { launchChromium } from './lib/chromium.js';
import { linkIn } from './lib/harness.js';
import { sdkPath } from './lib/site.js';

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

let dir, mail, sms, proc, browser, output = '';
const host = 'latch-example.test';
let appOrigin, latchPort;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latch-example-'));
  mail = await startSMTP();
  sms = await startTwilio(twilioConfig);
  // This checkout's latch, never one that happens to be on the PATH.
  await promisify(execFile)('go', ['build', '-o', join(dir, 'latch'), './cmd/latch'], { cwd: repoRoot });
  [latchPort] = [await freePort()];
  const appPort = await freePort();
  appOrigin = `http://localhost:${appPort}`;
  proc = spawn(process.execPath, ['start.js'], {
    cwd: join(repoRoot, 'examples', 'sdk-login'),
    env: {
      ...process.env,
      LATCH_EXAMPLE_DIR: dir,
      LATCH_BIN: join(dir, 'latch'),
      LATCH_HOST: host,
      LATCH_PORT: String(latchPort),
      APP_PORT: String(appPort),
      STYTCH_JS: sdkPath, // the same published file, without a second npm install
      LATCH_SMTP: `smtp://127.0.0.1:${mail.port}`,
      LATCH_EMAIL_FROM: 'Example <login@example.test>',
      LATCH_TWILIO_URL: sms.url,
      LATCH_TWILIO_ACCOUNT_SID: twilioConfig.accountSID,
      LATCH_TWILIO_AUTH_TOKEN: twilioConfig.authToken,
      LATCH_TWILIO_FROM: twilioConfig.smsFrom,
      LATCH_TWILIO_WHATSAPP_FROM: twilioConfig.whatsappFrom,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited = null;
  proc.on('exit', (c) => (exited = c));
  proc.stdout.on('data', (c) => (output += c));
  proc.stderr.on('data', (c) => (output += c));
  await poll(() => {
    if (exited !== null) throw new Error(`npm start exited (${exited}):\n${output}`);
    return output.includes('example ready');
  }, 'the example to start', 60000);
  const pem = await readFile(join(dir, 'cert.pem'), 'utf8');
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  browser = await launchChromium([
    `--host-resolver-rules=MAP ${host}:443 127.0.0.1:${latchPort}`,
    `--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`,
  ]);
});

after(async () => {
  await browser?.close().catch(() => {});
  proc?.kill('SIGTERM');
  await mail?.close();
  await sms?.close();
  await rm(dir, { recursive: true, force: true });
});

it('the example app: the backend sends a stranger to the login, the prebuilt UI\'s magic link and SMS passcode sign in, every request is checked, logout ends it', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const hosts = new Set();
  page.on('request', (r) => hosts.add(new URL(r.url()).origin));

  const stranger = await page.request.get(`${appOrigin}/api/me`);
  assert.equal(stranger.status(), 401);
  await page.goto(`${appOrigin}/`);
  assert.equal(new URL(page.url()).pathname, '/login');

  const email = `example-${randomBytes(4).toString('hex')}@example.com`;
  const input = page.locator('#login input[type=email]');
  await input.waitFor();
  await input.fill(email);
  await page.getByRole('button', { name: 'Continue with email' }).click();
  await page.getByText('Check your email').waitFor();
  const link = linkIn((await mail.waitFor(email)).text);
  assert.ok(link.startsWith(`${appOrigin}/authenticate?`), link);

  await page.goto(link);
  await page.waitForURL(`${appOrigin}/`);
  await page.getByText(`as ${email}`).waitFor();
  const me = await page.request.get(`${appOrigin}/api/me`);
  assert.equal(me.status(), 200);
  assert.equal((await me.json()).emails[0].email, email);

  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(`${appOrigin}/login`);
  assert.equal((await page.request.get(`${appOrigin}/api/me`)).status(), 401);

  // The other product of the same login: an SMS passcode.
  await page.getByRole('tab', { name: 'Text' }).click();
  const phone = `+1202555${1000 + Math.floor(Math.random() * 9000)}`;
  const tel = page.locator('#login input[type=tel]');
  await tel.fill(phone.slice(2));
  // The field shows the number once Latch's helper page has formatted it
  // (pressing the button before that submits the field's old, empty value).
  await poll(async () => (await tel.inputValue()) === `(${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`, 'the formatted number', 10000);
  await page.getByRole('button', { name: 'Continue with text message' }).click();
  const otp = page.getByLabel('One-time passcode');
  await otp.waitFor();
  const code = /\b(\d{6})\b/.exec((await sms.waitFor('sms', phone)).body)[1];
  await otp.pressSequentially(code);
  await page.waitForURL(`${appOrigin}/`);
  await page.getByText(`as ${phone}`).waitFor();
  assert.equal((await page.request.get(`${appOrigin}/api/me`)).status(), 200);
  assert.deepEqual([...hosts].filter((o) => o !== appOrigin && o !== `https://${host}`), [], 'the page reached other hosts');
  await context.close();
});
