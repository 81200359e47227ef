// The operators' console in Chromium: an operator signs in by the link
// Latch emails, finds a user by email, opens them and presses "Revoke" on a
// session, and the backend's sessions/authenticate then refuses that
// session. A signed-out visitor sees no data; a stranger's address gets no
// message; a POST without the CSRF token is refused; an operator removed
// from the list is signed out on the next request; a project created in
// the console comes with a secret that works on the backend; revoke all
// ends every session; sign-out ends the console session on the server;
// the project page's settings, SDK settings, origins, redirect URLs,
// secrets and key rotation, recent sessions and user deletion each take
// effect on the backend and are in the audit log; a message the mail
// server refused is failed in the outbox, and its Retry button delivers
// it. With
// LATCH_SCREENSHOTS=1 the README's screenshots are written to
// docs/screenshots/console-*.png (else to a temporary folder, so a test
// run leaves the checkout as it was).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLatch, repoRoot } from '../conformance/lib/latch.js';
import { poll } from '../conformance/lib/smtp.js';
import { launchChromium } from './lib/chromium.js';
import { backend } from './lib/console-backend.js';

const run = promisify(execFile);
const operator = 'ops@latch.test';
const stranger = 'stranger@elsewhere.test';
let shots = join(repoRoot, 'docs', 'screenshots');

let latch, browser, page, api, project, userID, bobID, laptop, phone, tempShots;

async function operators(...args) {
  return (await run(latch.bin, ['console', 'operators', ...args, '--database', latch.database])).stdout;
}

async function shot(name) {
  await page.screenshot({ path: join(shots, `console-${name}.png`), fullPage: true });
}

before(async () => {
  latch = await startLatch();
  await operators('add', operator);
  project = await latch.createProject('Acme');
  api = backend(latch.url, project);
  userID = await api.createUser('alice@example.com', { first_name: 'Alice', last_name: 'Liddell' });
  bobID = await api.createUser('bob@example.com', { first_name: 'Bob' });
  laptop = await api.login(userID, { ip_address: '203.0.113.7', user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0' });
  phone = await api.login(userID, { ip_address: '198.51.100.23', user_agent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1) Safari/604.1' });
  if (process.env.LATCH_SCREENSHOTS !== '1') shots = tempShots = await mkdtemp(join(tmpdir(), 'latch-console-shots-'));
  await mkdir(shots, { recursive: true });
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  await latch?.stop();
  if (tempShots) await rm(tempShots, { recursive: true, force: true });
});

test('a signed-out visitor sees no data, only the sign-in page', async () => {
  for (const path of ['/console/', `/console/projects/${project.project_id}/users?q=alice`, `/console/projects/${project.project_id}/users/${userID}`, '/console/outbox', '/console/audit']) {
    const res = await page.goto(latch.url + path);
    assert.equal(res.status(), 200);
    assert.match(page.url(), /\/console\/sign-in$/, path);
    const html = await page.content();
    for (const secretish of ['alice', userID, project.project_id, laptop.id]) {
      assert.ok(!html.includes(secretish), `${path} shows ${secretish} to a signed-out visitor`);
    }
  }
  await shot('sign-in');
});

test("a stranger's address gets the same page and no message", async () => {
  await page.goto(latch.url + '/console/sign-in');
  await page.getByLabel('Email address').fill(stranger);
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await page.getByText("is an operator's address, a sign-in link is on its way").waitFor();
  // The operator's link, asked for after, arrives through the same outbox:
  // by then the stranger's would have too.
  await page.goto(latch.url + '/console/sign-in');
  await page.getByLabel('Email address').fill(operator);
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await page.getByText("is an operator's address, a sign-in link is on its way").waitFor();
  await latch.mail.waitFor(operator);
  assert.equal(latch.mail.count(stranger), 0);
});

test('the operator signs in by the emailed link, finds a user by email and revokes one session', async () => {
  const mail = await latch.mail.waitFor(operator);
  const link = /https?:\/\/\S+\/console\/sign-in\/confirm\?token=[A-Za-z0-9_-]+/.exec(mail.text)?.[0];
  assert.ok(link, `no link in: ${mail.text}`);
  await page.goto(link);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Health', level: 1 }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/console/');
  await shot('health');

  await page.getByRole('link', { name: 'Acme' }).click();
  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await page.getByLabel('Email, phone, name, user id or external id').fill('alice@example.com');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByText('1 user', { exact: true }).waitFor();
  await page.getByRole('link', { name: userID }).click();
  await page.getByRole('heading', { name: 'Live sessions' }).waitFor();
  const rows = page.locator('tr[data-session-id]');
  assert.equal(await rows.count(), 2);
  assert.match(await page.locator(`tr[data-session-id="${laptop.id}"]`).innerText(), /203\.0\.113\.7[\s\S]*Firefox/);
  await shot('user');

  assert.equal(await api.authenticate(laptop.token), 200);
  await page.getByRole('button', { name: `Revoke session ${laptop.id}` }).click();
  await page.getByText(`Session ${laptop.id} revoked.`).waitFor();
  assert.equal(await rows.count(), 1);
  assert.equal(await api.authenticate(laptop.token), 404, 'the backend still accepts the revoked session');
  assert.equal(await api.authenticate(phone.token), 200, 'the other session went too');
});

test('a POST without the CSRF token is refused and changes nothing', async () => {
  await page.locator(`tr[data-session-id="${phone.id}"] input[name=csrf]`).evaluate((el) => el.remove());
  await page.getByRole('button', { name: `Revoke session ${phone.id}` }).click();
  await page.getByText('This form was refused').waitFor();
  assert.equal(await api.authenticate(phone.token), 200);
});

test('the audit log shows who did what, when and from where', async () => {
  await page.goto(latch.url + '/console/audit');
  const text = await page.locator('main').innerText();
  assert.match(text, /ops@latch\.test\s+sign-in/);
  assert.match(text, new RegExp(`session\\.revoke\\s+${project.project_id} ${userID} ${laptop.id}`));
  assert.match(text, /127\.0\.0\.1/);
  await shot('audit');
  await page.goto(`${latch.url}/console/projects/${project.project_id}`);
  await page.getByLabel('Add an origin').fill('https://app.example');
  await page.getByRole('button', { name: 'Add origin' }).click();
  await page.getByText('Origin https://app.example may now use the public token.').waitFor();
  await shot('project');
  await page.goto(latch.url + '/console/outbox');
  const outbox = await page.locator('main').innerText();
  assert.match(outbox, /o•••@latch\.test/);
  assert.ok(!outbox.includes(operator), 'the outbox shows a recipient unmasked');
  assert.ok(!outbox.includes('token='), 'the outbox shows a link');
  await shot('outbox');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${latch.url}/console/projects/${project.project_id}/users/${userID}`);
  await shot('user-phone');
  await page.setViewportSize({ width: 1100, height: 800 });
});

test("a message the mail server refused is failed in the outbox; Retry delivers it", async () => {
  const to = 'carol@bounce.test';
  latch.mail.refuse(to);
  const sent = await api.call('POST', '/v1/magic_links/email/login_or_create', {
    email: to, login_magic_link_url: 'https://app.example/authenticate', signup_magic_link_url: 'https://app.example/authenticate',
  });
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  // The refusal is permanent: the row is failed, not retrying, and stays so.
  const row = page.locator('tr', { hasText: 'c•••@bounce.test' });
  await poll(async () => {
    await page.goto(latch.url + '/console/outbox?state=failed');
    return (await row.count()) === 1;
  }, 'the refused message to be failed in the outbox');
  assert.match(await row.innerText(), /failed[\s\S]*550/);
  assert.equal(latch.mail.count(to), 0);
  const id = (await row.locator('td').first().innerText()).trim();

  latch.mail.accept(to);
  await page.getByRole('button', { name: `Retry message ${id}` }).click();
  await page.waitForURL(/\/console\/outbox$/);
  const mail = await latch.mail.waitFor(to);
  assert.match(mail.text, /https:\/\/app\.example\/authenticate\?/);
  assert.equal(latch.mail.count(to), 1);
  await poll(async () => {
    await page.goto(latch.url + '/console/outbox?state=sent');
    return (await row.count()) === 1;
  }, 'the retried message to be sent');
  await page.goto(latch.url + '/console/audit');
  assert.match(await page.locator('main').innerText(), new RegExp(`ops@latch\\.test\\s+outbox\\.retry\\s+${id}\\b`));
});

test("a new project's first secret works on the backend; revoke all; sign-out ends the console session", async () => {
  await page.goto(latch.url + '/console/projects');
  await page.getByLabel('Name (shown in emails)').fill('Globex');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('heading', { name: 'Globex', level: 1 }).waitFor();
  const projectID = /project-test-[0-9a-f-]{36}/.exec(await page.locator('main').innerText())?.[0];
  assert.ok(projectID, 'the new project page names no project id');
  // The project's first secret is shown once, on the page that created it;
  // a second comes from "Create a secret". Both work on the backend.
  const secrets = [(await page.locator('#new-secret').innerText()).trim()];
  await page.getByRole('button', { name: 'Create a secret' }).click();
  await page.locator('#new-secret').filter({ hasNotText: secrets[0] }).waitFor();
  secrets.push((await page.locator('#new-secret').innerText()).trim());
  assert.notEqual(secrets[0], secrets[1]);
  for (const [i, secret] of secrets.entries()) {
    assert.match(secret, /^secret-test-/);
    const res = await fetch(`${latch.url}/v1/users`, {
      method: 'POST',
      headers: { Authorization: 'Basic ' + Buffer.from(`${projectID}:${secret}`).toString('base64'), 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: `user${i}@globex.example` }),
    });
    assert.equal(res.status, 200, `secret #${i + 1} the console showed does not work on the backend`);
  }

  await page.goto(`${latch.url}/console/projects/${project.project_id}/users/${userID}`);
  assert.equal(await api.authenticate(phone.token), 200);
  await page.getByRole('button', { name: 'Revoke all sessions' }).click();
  await page.getByText('Every session of this user was revoked.').waitFor();
  assert.equal(await api.authenticate(phone.token), 404, 'revoke all left a session');

  const cookies = await page.context().cookies();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Email me a sign-in link' }).waitFor();
  // The old console cookie, sent again, opens nothing: the session ended on the server.
  await page.context().addCookies(cookies);
  await page.goto(`${latch.url}/console/projects/${project.project_id}/users/${userID}`);
  assert.match(page.url(), /\/console\/sign-in$/);

  // Sign in again for the last test.
  await page.getByLabel('Email address').fill(operator);
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  const mail = await latch.mail.waitFor(operator, 2);
  const link = /https?:\/\/\S+\/console\/sign-in\/confirm\?token=[A-Za-z0-9_-]+/.exec(mail.text)?.[0];
  await page.goto(link);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Health', level: 1 }).waitFor();
});

test("the project page's forms take effect on the backend", async () => {
  const projectURL = `${latch.url}/console/projects/${project.project_id}`;
  const bootstrap = (origin) => fetch(`${latch.url}/sdk/v1/projects/bootstrap/${project.public_token}`, {
    headers: { authorization: 'Basic ' + Buffer.from(`${project.public_token}:`).toString('base64'), 'x-sdk-parent-host': origin },
  });
  const flash = (text) => page.getByRole('status').filter({ hasText: text }).waitFor();

  // Settings: the new name is what the SDK's bootstrap tells the page.
  await page.goto(projectURL);
  await page.getByLabel('Name', { exact: true }).fill('Acme Corp');
  await page.getByLabel('Lock after this many failed logins (1–100)').fill('3');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await flash('Settings saved.');
  await page.getByRole('heading', { name: 'Acme Corp', level: 1 }).waitFor();
  let boot = await bootstrap('https://app.example');
  assert.equal(boot.status, 200);
  const data = (await boot.json()).data;
  assert.equal(data.project_name, 'Acme Corp');
  assert.equal(data.pkce_required_for_email_magic_links, true);

  // SDK settings: PKCE off, as bootstrap then says.
  await page.getByLabel(/Require PKCE/).uncheck();
  await page.getByRole('button', { name: 'Save SDK settings' }).click();
  await flash("PKCE for the SDK's email magic links is off.");
  assert.equal((await (await bootstrap('https://app.example')).json()).data.pkce_required_for_email_magic_links, false);

  // Origin removal: the page at that origin is refused at once.
  await page.getByRole('button', { name: 'Remove https://app.example', exact: true }).click();
  await flash('Origin https://app.example removed.');
  boot = await bootstrap('https://app.example');
  assert.equal(boot.status, 403, 'a removed origin is still served');

  // Redirect URLs: a link to the new URL is sent; once removed, refused.
  const send = () => api.call('POST', '/v1/magic_links/email/send', { email: 'alice@example.com', login_magic_link_url: 'https://app.example/magic' });
  assert.equal((await send()).status, 400, 'an unregistered redirect URL was accepted');
  await page.getByLabel('Add a redirect URL').fill('https://app.example/magic');
  await page.getByRole('button', { name: 'Add redirect URL' }).click();
  await flash('Redirect URL added.');
  assert.equal((await send()).status, 200);
  await page.getByRole('button', { name: 'Remove https://app.example/magic', exact: true }).click();
  await flash('Redirect URL removed.');
  assert.equal((await send()).status, 400, 'a removed redirect URL is still accepted');

  // A second secret works until it is revoked in the console.
  await page.getByRole('button', { name: 'Create a secret' }).click();
  const secretID = /New secret (\S+), shown only this once/.exec(await page.locator('.secret').innerText())?.[1];
  const secret = (await page.locator('#new-secret').innerText()).trim();
  assert.ok(secretID, 'the new secret has no id on the page');
  const withSecret = () => fetch(`${latch.url}/v1/users/${userID}`, {
    headers: { authorization: 'Basic ' + Buffer.from(`${project.project_id}:${secret}`).toString('base64') },
  });
  assert.equal((await withSecret()).status, 200);
  await page.getByRole('button', { name: `Revoke secret ${secretID}` }).click();
  await flash(`Secret ${secretID} revoked.`);
  assert.equal((await withSecret()).status, 401, 'a revoked secret still works');

  // Key rotation at once: the next JWT is signed with the new key, which
  // the JWKS publishes.
  await page.getByLabel('New key signs').selectOption('now');
  await page.getByRole('button', { name: 'Rotate the signing key' }).click();
  const kid = /New signing key (\S+) is in the JWKS now/.exec(await page.locator('main').innerText())?.[1];
  assert.ok(kid, 'no new key named after the rotation');
  const jwks = await (await fetch(`${latch.url}/v1/sessions/jwks/${project.project_id}`)).json();
  assert.ok(jwks.keys.some((k) => k.kid === kid), 'the JWKS lacks the new key');
  const tablet = await api.login(userID, { ip_address: '192.0.2.44', user_agent: 'Mozilla/5.0 (iPad) Safari/605.1' });
  const auth = await api.call('POST', '/v1/sessions/authenticate', { session_token: tablet.token });
  const header = JSON.parse(Buffer.from(auth.body.session_jwt.split('.')[0], 'base64url'));
  assert.equal(header.kid, kid, 'the JWT after an immediate rotation is signed with the old key');

  // Recent sessions lists the new session.
  await page.getByRole('link', { name: 'Recent sessions' }).click();
  await page.getByText(tablet.id).waitFor();

  // Deleting a user in the console deletes it on the backend.
  await page.goto(`${projectURL}/users/${bobID}`);
  await page.getByLabel(`Yes, delete ${bobID}`).check();
  await page.getByRole('button', { name: 'Delete this user' }).click();
  await page.waitForURL(`${projectURL}/users`);
  assert.equal((await api.call('GET', `/v1/users/${bobID}`)).status, 404, 'the deleted user is still there');

  await page.goto(latch.url + '/console/audit');
  const audit = await page.locator('main').innerText();
  for (const action of ['project.settings', 'sdk-settings', 'sdk-origin.remove', 'redirect-url.add', 'redirect-url.remove', 'secret.revoke', 'key.rotate', 'user.delete']) {
    assert.match(audit, new RegExp(`ops@latch\\.test\\s+${action.replace('.', '\\.')}\\s`), `the audit log lacks ${action}`);
  }
});

test('an operator removed from the list is signed out on the next request', async () => {
  await page.goto(latch.url + '/console/');
  await page.getByRole('heading', { name: 'Health', level: 1 }).waitFor();
  await operators('remove', operator);
  await page.goto(`${latch.url}/console/projects/${project.project_id}/users/${userID}`);
  assert.match(page.url(), /\/console\/sign-in$/);
  assert.ok(!(await page.content()).includes('alice@example.com'));
});
