// Assertions shared by the suite: a 200 of the right type, a StytchError of
// the right kind, and reading links and codes out of delivered messages.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import stytch from 'stytch';
import { assertShape } from './shapes.js';
import { poll } from './smtp.js';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
export const ids = {
  request: new RegExp(`^request-id-test-${UUID}$`),
  user: new RegExp(`^user-test-${UUID}$`),
  email: new RegExp(`^email-test-${UUID}$`),
  phone: new RegExp(`^phone-number-test-${UUID}$`),
  session: new RegExp(`^session-test-${UUID}$`),
  jwk: new RegExp(`^jwk-test-${UUID}$`),
  totp: new RegExp(`^totp-test-${UUID}$`),
  recoveryCode: new RegExp(`^totp-recovery-code-test-${UUID}$`),
};

/** Asserts a successful SDK result: the type, status_code 200, a request id. */
export function ok(res, schema, name) {
  assertShape(res, schema, name);
  assert.equal(res.status_code, 200, `${name}: status_code`);
  assert.match(res.request_id, ids.request, `${name}: request_id`);
  return res;
}

/**
 * Asserts that an SDK call fails with a StytchError carrying the
 * error_type and status_code the contract names, a request id, and the
 * rest of the envelope the SDK reads. `server`, when given, must have
 * logged the same request id with the same status.
 */
export async function expectError(promise, status, type, server) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${status} ${type}, the call succeeded`);
  assert.ok(err instanceof stytch.StytchError, `expected a StytchError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.error_type, type, `error_type (${err.message})`);
  assert.equal(err.status_code, status, `status_code of ${type}`);
  assert.match(err.request_id, ids.request, 'request_id');
  assert.equal(typeof err.error_message, 'string');
  assert.ok(err.error_message.length > 0, 'error_message is empty');
  assert.equal(typeof err.error_url, 'string');
  assert.ok(err.error_url.includes(type), `error_url ${err.error_url} names ${type}`);
  if (server) {
    // The access log line is written just after the response.
    const logged = await poll(() => server.requests.find((r) => r.request_id === err.request_id), `request ${err.request_id} in the server log`, 2000);
    assert.equal(logged.status, status, 'logged status');
  }
  return err;
}

let seq = 0;
const run = randomBytes(3).toString('hex');
/** A fresh, valid email address. */
export const email = (tag = 'user') => `${tag}-${run}-${++seq}@example.com`;
/** A fresh, valid E.164 US number (+1 202 555 XXXX), never repeating within a run. */
let phoneSeq = Math.floor(Math.random() * 5000);
export const phone = () => `+1202555${String(1000 + (++phoneSeq % 9000)).padStart(4, '0')}`;

/** The token of the magic link in an email, checking the link's form. */
export function linkToken(mail, base = 'https://app.example/authenticate') {
  const m = /https?:\/\/\S+/.exec(mail.text);
  assert.ok(m, `no link in email:\n${mail.text}`);
  const u = new URL(m[0]);
  assert.equal(u.origin + u.pathname, base, 'link redirect URL');
  assert.equal(u.searchParams.get('stytch_token_type'), 'magic_links', 'stytch_token_type');
  const token = u.searchParams.get('token');
  assert.match(token, /^[A-Za-z0-9_-]{43}=$/, 'magic-link token: 44 chars of base64url with padding');
  return token;
}

/** The 6-digit code in a message body. */
export function otpCode(text) {
  const m = /\b(\d{6})\b/.exec(text);
  assert.ok(m, `no 6-digit code in: ${text}`);
  return m[1];
}

/** A PKCE pair as the Stytch frontend SDKs make it (hex verifier, S256). */
export function pkce() {
  const verifier = randomBytes(32).toString('hex');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/** The decoded header and payload of a JWT (no verification). */
export function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
}
