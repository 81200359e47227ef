// Everything the SDK suite runs against, started once: a real Latch serving
// HTTPS (conformance/lib/latch.js with its SMTP receiver and Twilio double),
// the app's site on another port (lib/site.js), a project that authorizes
// the site's origin, and Debian's Chromium, which maps the SDK's
// customBaseUrl host to Latch's TLS port and trusts exactly Latch's
// self-signed key.
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLatch } from '../../conformance/lib/latch.js';
import { poll } from '../../conformance/lib/smtp.js';
import { launchChromium } from './chromium.js';
import { startSite } from './site.js';
import { makeCert } from './tls.js';

export { poll };

// The name the pages use in customBaseUrl. The SDK keeps only the host of
// customBaseUrl (https, port 443), so Chromium maps this name's port 443 to
// Latch's port.
export const apiHost = 'latch.test';

export async function startHarness() {
  const dir = await mkdtemp(join(tmpdir(), 'latch-browser-'));
  const tls = await makeCert(dir, apiHost);
  const latch = await startLatch({ tls });
  const site = await startSite({ apiHost });
  const project = await latch.createProject('Browser suite', [`${site.origin}/authenticate`], ['--sdk-origin', site.origin]);
  if (!/^public-token-test-/.test(project.public_token || '')) {
    throw new Error(`latch project create --json printed no public token: ${JSON.stringify(project)}`);
  }
  site.setPublicToken(project.public_token);
  // A second project on the same origin, for the tests that send the most
  // (each project has its own per-IP send limit): the site's /b/ pages.
  const projectB = await latch.createProject('Browser suite B', [`${site.origin}/b/authenticate`], ['--sdk-origin', site.origin]);
  site.setPublicToken(projectB.public_token, 'b');
  // A third whose SDK magic links need no PKCE (latch project sdk-settings): /c/.
  const projectC = await latch.createProject('Browser suite C', [`${site.origin}/c/authenticate`], ['--sdk-origin', site.origin]);
  await latch.cli('project', 'sdk-settings', '--database', latch.database, '--project', projectC.project_id, '--pkce-required', 'false');
  site.setPublicToken(projectC.public_token, 'c');
  const port = new URL(latch.url).port;
  const browser = await launchChromium([
    `--host-resolver-rules=MAP ${apiHost}:443 127.0.0.1:${port}`,
    `--ignore-certificate-errors-spki-list=${tls.spkiHash}`,
  ]);

  // A request to Latch's TLS port from Node, trusting the test certificate.
  const request = (method, path, { headers = {}, body } = {}) =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const req = https.request({
        host: '127.0.0.1', port, method, path, ca: tls.pem, servername: apiHost,
        headers: { Host: apiHost, ...(data !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}), ...headers },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let json = null;
          try {
            json = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      });
      req.on('error', reject);
      if (data !== undefined) req.write(data);
      req.end();
    });

  const basic = (user, pass) => 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');

  const h = {
    dir, tls, latch, site, project, projectB, projectC, browser, request,
    /** The backend API, as the app's server calls it (project id and secret; p defaults to the first project). */
    backend(method, path, body, p = project) {
      return request(method, path, { body, headers: { Authorization: basic(p.project_id, p.secret) } });
    },
    /**
     * A fresh browser profile (cookies, storage) and a page in it. Every
     * request the page makes is kept in page.hosts (scheme://host:port), so
     * a test can tell that nothing went to Stytch's hosts.
     */
    async newPage() {
      const context = await browser.newContext({ viewport: { width: 560, height: 720 }, deviceScaleFactor: 1 });
      const page = await context.newPage();
      page.hosts = new Set();
      page.consoleErrors = [];
      page.on('request', (r) => page.hosts.add(new URL(r.url()).origin));
      page.on('console', (m) => m.type() === 'error' && page.consoleErrors.push(m.text()));
      page.on('pageerror', (e) => page.consoleErrors.push(`pageerror: ${e.message}`));
      return page;
    },
    /** The stytch_session cookie of the page's origin (undefined if none). */
    async sessionCookie(page, name = 'stytch_session') {
      const cookies = await page.context().cookies(site.origin);
      return cookies.find((c) => c.name === name)?.value;
    },
    /** The origins a page may reach: its own site and Latch, nothing else. */
    allowedOrigins: new Set([site.origin, site.otherOrigin, `https://${apiHost}`]),
    async stop() {
      await browser?.close().catch(() => {});
      await site?.close();
      await latch?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** The magic link in an email: the redirect URL with stytch_token_type and token. */
export function linkIn(text) {
  const m = /(https?:\/\/[^\s<>"]+stytch_token_type=magic_links[^\s<>"]*)/.exec(text) ||
    /(https?:\/\/[^\s<>"]+[?&]token=[^\s<>"]+)/.exec(text);
  if (!m) throw new Error(`no magic link in:\n${text}`);
  return m[1];
}

/** The six-digit passcode in an email or text. */
export function codeIn(text) {
  const m = /\b(\d{6})\b/.exec(text);
  if (!m) throw new Error(`no passcode in:\n${text}`);
  return m[1];
}
