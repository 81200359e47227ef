// Stytch's frontend SDK, @stytch/vanilla-js 6.3.0 exactly as published (its
// dist/iife/index.js), in Debian's Chromium against a real Latch over TLS:
// the headless client's logins, the prebuilt login UI, the origin check, and
// a last test that every /sdk/v1 route Latch serves answered a 2xx here.
//
// One Latch, one site, one Chromium for the whole file; each test has its
// own browser profile (cookies, storage) and its own users.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../conformance/lib/latch.js';
import { codeIn, linkIn, poll, startHarness } from './lib/harness.js';

let h;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

const tag = () => randomBytes(4).toString('hex');
const newEmail = (what) => `${what}-${tag()}@example.com`;
// NANP numbers the Twilio double and the phone field both take, distinct
// within the run (a repeat would mix two tests' codes).
let phoneSeq = 1000 + Math.floor(Math.random() * 8000);
const newPhone = () => `+1202555${phoneSeq++}`;

// Screenshots of the prebuilt UI: into docs/screenshots with
// LATCH_SCREENSHOTS=1 (how the README's were made), else into the run's
// temporary directory (taken all the same, so the step cannot rot).
async function screenshot(page, name) {
  const dir = process.env.LATCH_SCREENSHOTS ? join(repoRoot, 'docs', 'screenshots') : join(h.dir, 'screenshots');
  await mkdir(dir, { recursive: true });
  await page.locator('#login').screenshot({ path: join(dir, name) });
}

// A page of the site, its client constructed.
async function open(path, origin = h.site.origin) {
  const page = await h.newPage();
  await page.goto(`${origin}${path}`);
  await page.waitForFunction(() => window.client !== undefined);
  return page;
}

// Runs fn(arg) in the page and returns {ok, value} or {ok: false, error}
// with the SDK error's type and message (a rejected SDK call is data here).
async function call(page, fn, arg) {
  return page.evaluate(
    async ([src, a]) => {
      try {
        // eslint-disable-next-line no-new-func
        return { ok: true, value: await new Function('client', 'arg', `return (${src})(client, arg)`)(window.client, a) };
      } catch (e) {
        return { ok: false, error_type: e.error_type, status_code: e.status_code, message: String(e.message || e) };
      }
    },
    [fn.toString(), arg],
  );
}

async function sdk(page, fn, arg) {
  const r = await call(page, fn, arg);
  assert.ok(r.ok, `SDK call failed: ${JSON.stringify(r)}`);
  return r.value;
}

function onlyLatchAndTheSite(page) {
  const elsewhere = [...page.hosts].filter((o) => !h.allowedOrigins.has(o));
  assert.deepEqual(elsewhere, [], 'the page reached hosts other than the site and Latch');
}

// After a login in the page: the SDK's cookie names a session the app's
// backend accepts; the SDK refreshes it, reads the user, revokes it; then
// the backend refuses it.
async function sessionLifecycle(page, { email, phone }) {
  const token = await poll(() => h.sessionCookie(page), 'the stytch_session cookie');
  const jwt = await h.sessionCookie(page, 'stytch_session_jwt');
  assert.ok(jwt, 'the stytch_session_jwt cookie is set too');

  const byToken = await h.backend('POST', '/v1/sessions/authenticate', { session_token: token });
  assert.equal(byToken.status, 200, byToken.text);
  const userID = byToken.json.session.user_id;
  const byJWT = await h.backend('POST', '/v1/sessions/authenticate', { session_jwt: jwt });
  assert.equal(byJWT.status, 200, byJWT.text);
  assert.equal(byJWT.json.session.session_id, byToken.json.session.session_id);

  const refreshed = await sdk(page, (c) => c.session.authenticate({ session_duration_minutes: 60 }));
  assert.equal(refreshed.session.session_id, byToken.json.session.session_id);
  assert.equal(refreshed.user.user_id, userID);
  assert.ok(await h.sessionCookie(page), 'the cookie survives the refresh');

  const user = await sdk(page, (c) => c.user.get());
  assert.equal(user.user_id, userID);
  if (email) assert.ok(user.emails.some((e) => e.email === email && e.verified), JSON.stringify(user.emails));
  if (phone) assert.ok(user.phone_numbers.some((p) => p.phone_number === phone && p.verified), JSON.stringify(user.phone_numbers));
  assert.deepEqual(await page.evaluate(() => window.client.user.getSync()?.user_id), userID);

  await sdk(page, (c) => c.session.revoke());
  assert.equal(await h.sessionCookie(page), undefined, 'revoke removes the cookie');
  const after = await h.backend('POST', '/v1/sessions/authenticate', { session_token: token });
  assert.equal(after.status, 404, after.text);
  assert.equal(after.json.error_type, 'session_not_found');
  // With no cookie the SDK sends only its public token: an error the SDK
  // treats as final (no retries in the background).
  const again = await call(page, (c) => c.session.authenticate());
  assert.equal(again.ok, false);
  assert.equal(again.error_type, 'user_unauthenticated');
  return userID;
}

describe('the headless client', () => {
  it('logs in with an email magic link: the link from the email signs in on the redirect page, the backend accepts the cookie, then refresh, user, revoke', async () => {
    const page = await open('/headless');
    const email = newEmail('eml');
    const sent = await sdk(page, (c, a) => c.magicLinks.email.loginOrCreate(a.email, {
      login_magic_link_url: `${a.origin}/authenticate`,
      signup_magic_link_url: `${a.origin}/authenticate`,
      login_expiration_minutes: 30,
      signup_expiration_minutes: 30,
    }), { email, origin: h.site.origin });
    assert.equal(sent.status_code, 200);
    const link = linkIn((await h.latch.mail.waitFor(email)).text);
    assert.ok(link.startsWith(`${h.site.origin}/authenticate?`), link);
    await page.goto(link);
    const result = await page.evaluate(() => window.authResult);
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.data.user.emails[0].email, email);
    assert.equal(new URL(page.url()).searchParams.get('token'), null, 'the SDK takes the token out of the address bar');
    await sessionLifecycle(page, { email });
    onlyLatchAndTheSite(page);
  });

  it('refuses a magic link opened in another browser (PKCE): the code verifier stays where the link was asked for', async () => {
    const page = await open('/headless');
    const email = newEmail('pkce');
    await sdk(page, (c, a) => c.magicLinks.email.loginOrCreate(a.email, { login_magic_link_url: `${a.origin}/authenticate`, signup_magic_link_url: `${a.origin}/authenticate` }), { email, origin: h.site.origin });
    // The send waited for the bootstrap, which the SDK keeps in localStorage.
    const boot = await page.evaluate(() => JSON.parse(Object.entries(localStorage).find(([k]) => k.includes('bootstrap'))?.[1] || 'null'));
    const link = linkIn((await h.latch.mail.waitFor(email)).text);
    assert.ok(boot?.pkceRequiredForEmailMagicLinks, `bootstrap asks for PKCE: ${JSON.stringify(boot)}`);
    const other = await h.newPage();
    await other.goto(link);
    const refused = await other.evaluate(() => window.authResult);
    assert.equal(refused.ok, false, JSON.stringify(refused));
    assert.equal(await h.sessionCookie(other), undefined);
    // The browser that asked for it still can (a refused verifier spends nothing).
    await page.goto(link);
    const result = await page.evaluate(() => window.authResult);
    assert.ok(result.ok, JSON.stringify(result));
  });

  it('with PKCE turned off for the project (latch project sdk-settings --pkce-required false) the SDK sends no challenge and the link works in any browser', async () => {
    const page = await open('/c/headless');
    const email = newEmail('nopkce');
    await sdk(page, (c, a) => c.magicLinks.email.loginOrCreate(a.email, { login_magic_link_url: `${a.origin}/c/authenticate`, signup_magic_link_url: `${a.origin}/c/authenticate` }), { email, origin: h.site.origin });
    const boot = await page.evaluate(() => JSON.parse(Object.entries(localStorage).find(([k]) => k.includes('bootstrap'))?.[1] || 'null'));
    assert.equal(boot?.pkceRequiredForEmailMagicLinks, false, JSON.stringify(boot));
    const link = linkIn((await h.latch.mail.waitFor(email)).text);
    const other = await h.newPage();
    await other.goto(link);
    const result = await other.evaluate(() => window.authResult);
    assert.ok(result.ok, JSON.stringify(result));
    assert.ok(await poll(() => h.sessionCookie(other), 'the stytch_session cookie'));
  });

  it('logs in with an SMS passcode from the Twilio double, then refresh, user, revoke', async () => {
    const page = await open('/headless');
    const phone = newPhone();
    const sent = await sdk(page, (c, p) => c.otps.sms.loginOrCreate(p, { expiration_minutes: 5 }), phone);
    assert.match(sent.method_id, /^phone-number-test-/);
    const code = codeIn((await h.latch.sms.waitFor('sms', phone)).body);
    const auth = await sdk(page, (c, a) => c.otps.authenticate(a.code, a.method_id, { session_duration_minutes: 60 }), { code, method_id: sent.method_id });
    assert.equal(auth.user.phone_numbers[0].phone_number, phone);
    await sessionLifecycle(page, { phone });
    onlyLatchAndTheSite(page);
  });

  it('logs in with an email passcode, then refresh, user, revoke', async () => {
    const page = await open('/headless');
    const email = newEmail('otp');
    const sent = await sdk(page, (c, e) => c.otps.email.loginOrCreate(e, { expiration_minutes: 5 }), email);
    assert.match(sent.method_id, /^email-test-/);
    const code = codeIn((await h.latch.mail.waitFor(email)).text);
    await sdk(page, (c, a) => c.otps.authenticate(a.code, a.method_id, { session_duration_minutes: 60 }), { code, method_id: sent.method_id });
    await sessionLifecycle(page, { email });
    onlyLatchAndTheSite(page);
  });

  it('logs in with a WhatsApp passcode', async () => {
    const page = await open('/headless');
    const phone = newPhone();
    const sent = await sdk(page, (c, p) => c.otps.whatsapp.loginOrCreate(p, { expiration_minutes: 5 }), phone);
    const code = codeIn((await h.latch.sms.waitFor('whatsapp', phone)).body);
    await sdk(page, (c, a) => c.otps.authenticate(a.code, a.method_id, { session_duration_minutes: 60 }), { code, method_id: sent.method_id });
    assert.ok(await poll(() => h.sessionCookie(page), 'the stytch_session cookie'));
  });

  it('a wrong passcode is an SDK error the page can show, and sets no cookie', async () => {
    const page = await open('/headless');
    const email = newEmail('wrong');
    const sent = await sdk(page, (c, e) => c.otps.email.loginOrCreate(e), email);
    const code = codeIn((await h.latch.mail.waitFor(email)).text);
    const wrong = code === '000000' ? '111111' : '000000';
    const r = await call(page, (c, a) => c.otps.authenticate(a.code, a.method_id, { session_duration_minutes: 60 }), { code: wrong, method_id: sent.method_id });
    assert.equal(r.ok, false);
    assert.equal(r.error_type, 'otp_code_not_found');
    assert.equal(await h.sessionCookie(page), undefined);
  });

  it('a signed-in user adds and removes factors (send/secondary), updates their name, and a signed-out one uses send/primary', async () => {
    // A user the app's backend made, with an email and a phone (in the
    // second project: this test alone sends eight links and codes).
    const email = newEmail('acct');
    const phone = newPhone();
    const created = await h.backend('POST', '/v1/users', { email, phone_number: phone }, h.projectB);
    assert.equal(created.status, 200, created.text);

    // Signed out: the primary sends, to the user's own factors.
    const page = await open('/b/headless');
    const ml = await sdk(page, (c, a) => c.magicLinks.email.send(a.email, { login_magic_link_url: `${a.origin}/b/authenticate` }), { email, origin: h.site.origin });
    assert.equal(ml.status_code, 200);
    await page.goto(linkIn((await h.latch.mail.waitFor(email)).text));
    assert.ok((await page.evaluate(() => window.authResult)).ok);

    const out = await open('/b/headless');
    const smsSent = await sdk(out, (c, p) => c.otps.sms.send(p), phone);
    await sdk(out, (c, a) => c.otps.authenticate(a.code, a.id, { session_duration_minutes: 5 }),
      { code: codeIn((await h.latch.sms.waitFor('sms', phone)).body), id: smsSent.method_id });
    const out2 = await open('/b/headless');
    const waSent = await sdk(out2, (c, p) => c.otps.whatsapp.send(p), phone);
    assert.equal(waSent.status_code, 200);
    const out3 = await open('/b/headless');
    const emSent = await sdk(out3, (c, e) => c.otps.email.send(e), email);
    assert.equal(emSent.status_code, 200);

    // Signed in (the magic link above): the secondary sends attach new factors.
    const email2 = newEmail('acct2');
    const phone2 = newPhone();
    const s1 = await sdk(page, (c, p) => c.otps.sms.send(p), phone2);
    await sdk(page, (c, a) => c.otps.authenticate(a.code, a.id, { session_duration_minutes: 60 }),
      { code: codeIn((await h.latch.sms.waitFor('sms', phone2)).body), id: s1.method_id });
    const s2 = await sdk(page, (c, p) => c.otps.whatsapp.send(p), phone2);
    await sdk(page, (c, a) => c.otps.authenticate(a.code, a.id, { session_duration_minutes: 60 }),
      { code: codeIn((await h.latch.sms.waitFor('whatsapp', phone2)).body), id: s2.method_id });
    const s3 = await sdk(page, (c, e) => c.otps.email.send(e), email2);
    await sdk(page, (c, a) => c.otps.authenticate(a.code, a.id, { session_duration_minutes: 60 }),
      { code: codeIn((await h.latch.mail.waitFor(email2)).text), id: s3.method_id });
    const email3 = newEmail('acct3');
    await sdk(page, (c, a) => c.magicLinks.email.send(a.email, { login_magic_link_url: `${a.origin}/b/authenticate` }), { email: email3, origin: h.site.origin });
    await page.goto(linkIn((await h.latch.mail.waitFor(email3)).text));
    assert.ok((await page.evaluate(() => window.authResult)).ok);

    let user = await sdk(page, (c) => c.user.get());
    assert.equal(user.user_id, created.json.user_id, 'the new factors joined the signed-in user');
    assert.deepEqual(user.emails.map((e) => e.email).sort(), [email, email2, email3].sort());
    assert.deepEqual(user.phone_numbers.map((p) => p.phone_number).sort(), [phone, phone2].sort());

    const updated = await sdk(page, (c) => c.user.update({ name: { first_name: 'Ada', last_name: 'Lovelace' } }));
    assert.equal(updated.user_id, user.user_id);
    await sdk(page, (c, id) => c.user.deleteEmail(id), user.emails.find((e) => e.email === email2).email_id);
    await sdk(page, (c, id) => c.user.deletePhoneNumber(id), user.phone_numbers.find((p) => p.phone_number === phone2).phone_id);

    const back = await h.backend('GET', `/v1/users/${user.user_id}`, undefined, h.projectB);
    assert.equal(back.json.name.first_name, 'Ada');
    assert.deepEqual(back.json.emails.map((e) => e.email).sort(), [email, email3].sort());
    assert.deepEqual(back.json.phone_numbers.map((p) => p.phone_number), [phone]);
    user = await page.evaluate(() => window.client.user.getSync());
    assert.equal(user.name.first_name, 'Ada', 'the SDK keeps the updated user');
  });
});

describe('the prebuilt login UI (mountLogin)', () => {
  it('email magic link: type the address, press the button, the email\'s link signs in', async () => {
    const page = await open('/login?flow=eml');
    const input = page.locator('#login input[type=email]');
    await input.waitFor();
    await screenshot(page, 'sdk-login-email-magic-link.png');
    const email = newEmail('ada');
    await input.fill(email);
    await page.getByRole('button', { name: 'Continue with email' }).click();
    await page.getByText('Check your email').waitFor();
    await screenshot(page, 'sdk-login-email-sent.png');
    const link = linkIn((await h.latch.mail.waitFor(email)).text);
    await page.goto(link);
    const result = await page.evaluate(() => window.authResult);
    assert.ok(result.ok, JSON.stringify(result));
    const token = await poll(() => h.sessionCookie(page), 'the stytch_session cookie');
    const back = await h.backend('POST', '/v1/sessions/authenticate', { session_token: token });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.user.emails[0].email, email);
    onlyLatchAndTheSite(page);
  });

  it('email passcode: type the address, press the button, type the emailed code', async () => {
    const page = await open('/login?flow=otp-email');
    const input = page.locator('#login input[type=email]');
    await input.waitFor();
    const email = newEmail('grace');
    await input.fill(email);
    await page.getByRole('button', { name: 'Continue with email' }).click();
    const otp = page.getByLabel('One-time passcode');
    await otp.waitFor();
    await screenshot(page, 'sdk-login-passcode.png');
    const code = codeIn((await h.latch.mail.waitFor(email)).text);
    await otp.pressSequentially(code);
    const token = await poll(() => h.sessionCookie(page), 'the stytch_session cookie');
    const back = await h.backend('POST', '/v1/sessions/authenticate', { session_token: token });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.user.emails[0].email, email);
    await poll(() => page.evaluate(() => window.uiEvents.includes('OTP_AUTHENTICATE')), 'the UI\'s OTP_AUTHENTICATE event');
    await screenshot(page, 'sdk-login-signed-in.png');
    onlyLatchAndTheSite(page);
  });

  it('SMS passcode: the phone field formats through Latch\'s clientside-services page, nothing comes from Stytch\'s hosts', async () => {
    const page = await open('/login?flow=otp-sms');
    const input = page.locator('#login input[type=tel]');
    await input.waitFor();
    const phone = newPhone();
    await input.fill(phone.slice(2));
    // The national format came back from the helper page Latch serves.
    await poll(async () => (await input.inputValue()) === `(${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`, 'the formatted number', 10000);
    await screenshot(page, 'sdk-login-sms.png');
    await page.getByRole('button', { name: 'Continue with text message' }).click();
    const otp = page.getByLabel('One-time passcode');
    await otp.waitFor();
    await page.getByText(`(${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`).waitFor();
    await screenshot(page, 'sdk-login-sms-passcode.png');
    const code = codeIn((await h.latch.sms.waitFor('sms', phone)).body);
    await otp.pressSequentially(code);
    const token = await poll(() => h.sessionCookie(page), 'the stytch_session cookie');
    const back = await h.backend('POST', '/v1/sessions/authenticate', { session_token: token });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.user.phone_numbers[0].phone_number, phone);
    assert.ok(page.hosts.has('https://latch.test'));
    onlyLatchAndTheSite(page);
  });
});

describe('authorized origins', () => {
  it('a page on an origin the project has not authorized gets nothing: no CORS grant, no email sent', async () => {
    const other = h.site.otherOrigin;
    const page = await open('/headless', other);
    const email = newEmail('other');
    const r = await call(page, (c, e) => c.magicLinks.email.loginOrCreate(e), email);
    assert.equal(r.ok, false);
    assert.match(r.message, /Unable to contact/);

    // What the browser saw, asked from Node: no Access-Control-Allow-Origin
    // for the preflight, the bootstrap or the call itself, and the call is refused.
    const pre = await h.request('OPTIONS', '/sdk/v1/magic_links/email/login_or_create', {
      headers: { Origin: other, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type,x-sdk-client,x-sdk-parent-host' },
    });
    assert.equal(pre.headers['access-control-allow-origin'], undefined);
    const auth = 'Basic ' + Buffer.from(`${h.project.public_token}:${h.project.public_token}`).toString('base64');
    const boot = await h.request('GET', `/sdk/v1/projects/bootstrap/${h.project.public_token}`, { headers: { Origin: other, Authorization: auth } });
    assert.equal(boot.headers['access-control-allow-origin'], undefined);
    assert.ok(boot.status >= 400, `bootstrap from another origin: ${boot.status}`);
    const direct = await h.request('POST', '/sdk/v1/magic_links/email/login_or_create', { headers: { Origin: other, Authorization: auth }, body: { email } });
    assert.equal(direct.status, 403, direct.text);
    assert.equal(direct.headers['access-control-allow-origin'], undefined);
    assert.equal(h.latch.mail.count(email), 0, 'no email for a refused origin');

    // The authorized origin, for contrast, is granted exactly.
    const ok = await h.request('OPTIONS', '/sdk/v1/magic_links/email/login_or_create', {
      headers: { Origin: h.site.origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type,x-sdk-client,x-sdk-parent-host' },
    });
    assert.equal(ok.headers['access-control-allow-origin'], h.site.origin);
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
  });

  it('latch project sdk-origins add lets the origin in; remove shuts it out again', async () => {
    const other = h.site.otherOrigin;
    const { latch, project } = h;
    await latch.cli('project', 'sdk-origins', 'add', '--database', latch.database, '--project', project.project_id, other);
    const listed = await latch.cli('project', 'sdk-origins', 'list', '--database', latch.database, '--project', project.project_id);
    assert.match(listed, new RegExp(other.replace(/[.:/]/g, '\\$&')));
    const page = await open('/headless', other);
    const phone = newPhone();
    const sent = await call(page, (c, p) => c.otps.sms.loginOrCreate(p), phone);
    assert.ok(sent.ok, JSON.stringify(sent));
    await h.latch.sms.waitFor('sms', phone);

    await latch.cli('project', 'sdk-origins', 'remove', '--database', latch.database, '--project', project.project_id, other);
    const page2 = await open('/headless', other);
    const refused = await call(page2, (c, p) => c.otps.sms.loginOrCreate(p), newPhone());
    assert.equal(refused.ok, false, JSON.stringify(refused));
  });
});

describe('route coverage', () => {
  // A run narrowed to some tests cannot cover every route.
  const filtered = process.execArgv.some((a) => /^--test-(name-pattern|skip-pattern|only)/.test(a));
  it('every /sdk/v1 route Latch serves answered a 2xx to the browser in this run', { skip: filtered && 'a filtered run' }, async () => {
    const served = (await h.latch.routes()).filter((r) => / \/sdk\/v1\//.test(r));
    assert.ok(served.length >= 10, `the router lists ${served.length} /sdk/v1 routes`);
    const passed = () => new Set(h.latch.requests.filter((r) => r.status >= 200 && r.status < 300).map((r) => r.route));
    const missing = () => served.filter((route) => !passed().has(route));
    await poll(() => missing().length === 0, 'the access log', 2000).catch(() => {});
    assert.deepEqual(missing(), [], `/sdk/v1 routes no browser test exercised successfully:\n  ${missing().join('\n  ')}\nAdd a test in browser/sdk.test.js that drives them through the SDK.`);
  });
});
