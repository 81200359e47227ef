// client.totps: create, authenticate onto a session, recovery codes,
// recover; users.deleteTOTP (types/lib/b2c/totps.d.ts, users.d.ts).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import * as T from '../lib/shapes.js';
import { decodeJwt, email, expectError, ids, ok, otpCode } from '../lib/check.js';

/** RFC 4648 base32 (no padding) to bytes. */
function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, at step offset `d`. */
export function totp(secret, d = 0, now = Date.now()) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(Math.floor(now / 30000) + d));
  const sum = createHmac('sha1', base32(secret)).update(msg).digest();
  const off = sum[sum.length - 1] & 0x0f;
  return String((sum.readUInt32BE(off) & 0x7fffffff) % 1000000).padStart(6, '0');
}

const factors = (s) => s.authentication_factors.map((f) => `${f.type}/${f.delivery_method}`);

export default function totps(ctx) {
  describe('TOTP', () => {
    it('create, authenticate onto an email-passcode session, the same code refused, a recovery code once', async () => {
      const addr = email('totp');
      const sent = await ctx.client.otps.email.loginOrCreate({ email: addr });
      const code = otpCode((await ctx.latch.mail.waitFor(addr)).text);
      const login = await ctx.client.otps.authenticate({ method_id: sent.email_id, code, session_duration_minutes: 60 });
      const sid = login.session.session_id;

      const made = ok(await ctx.client.totps.create({ user_id: sent.user_id, expiration_minutes: 60 }), T.TOTPsCreateResponse, 'totps.create');
      assert.match(made.totp_id, ids.totp);
      assert.equal(made.user_id, sent.user_id);
      assert.match(made.secret, /^[A-Z2-7]{32}$/);
      assert.match(made.qr_code, /^data:image\/png;base64,iVBORw0KGgo/);
      assert.equal(made.recovery_codes.length, 10);
      for (const c of made.recovery_codes) assert.match(c, /^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$/);
      assert.deepEqual(made.user.totps, [{ totp_id: made.totp_id, verified: false }]);

      const totpCode = totp(made.secret);
      const res = ok(await ctx.client.totps.authenticate({ user_id: sent.user_id, totp_code: totpCode, session_token: login.session_token }), T.TOTPsAuthenticateResponse, 'totps.authenticate');
      assert.equal(res.totp_id, made.totp_id);
      assert.equal(res.session.session_id, sid);
      assert.equal(res.session_token, login.session_token);
      T.assertShape(res.session, T.Session, 'session');
      assert.deepEqual(factors(res.session), ['otp/email', 'totp/authenticator_app']);
      assert.deepEqual(res.session.authentication_factors[1].authenticator_app_factor, { totp_id: made.totp_id });
      const claim = decodeJwt(res.session_jwt).payload['https://stytch.com/session'];
      assert.equal(claim.id, sid);
      assert.deepEqual(factors(claim), ['otp/email', 'totp/authenticator_app']);
      assert.deepEqual(res.user.totps, [{ totp_id: made.totp_id, verified: true }]);
      // The SDK's own local check reads the same two factors.
      const local = await ctx.client.sessions.authenticateJwtLocal({ session_jwt: res.session_jwt });
      assert.deepEqual(factors(local), ['otp/email', 'totp/authenticator_app']);

      await expectError(ctx.client.totps.authenticate({ user_id: sent.user_id, totp_code: totpCode, session_token: login.session_token }), 400, 'totp_code_already_authenticated', ctx.latch);

      const codes = ok(await ctx.client.totps.recoveryCodes({ user_id: sent.user_id }), T.TOTPsRecoveryCodesResponse, 'totps.recoveryCodes');
      assert.deepEqual(codes.totps, [{ totp_id: made.totp_id, verified: true, recovery_codes: made.recovery_codes }]);

      const rec = ok(await ctx.client.totps.recover({ user_id: sent.user_id, recovery_code: made.recovery_codes[0], session_jwt: res.session_jwt }), T.TOTPsRecoverResponse, 'totps.recover');
      assert.equal(rec.session.session_id, sid);
      assert.deepEqual(factors(rec.session), ['otp/email', 'totp/authenticator_app', 'recovery_codes/recovery_code']);
      assert.match(rec.session.authentication_factors[2].recovery_code_factor.totp_recovery_code_id, ids.recoveryCode);
      await expectError(ctx.client.totps.recover({ user_id: sent.user_id, recovery_code: made.recovery_codes[0] }), 401, 'unable_to_authenticate_recovery_code', ctx.latch);
      const left = await ctx.client.totps.recoveryCodes({ user_id: sent.user_id });
      assert.deepEqual(left.totps[0].recovery_codes, made.recovery_codes.slice(1));
    });

    it('a password session gains an authenticator app: one session, both factors, and authenticateJwtLocal agrees', async () => {
      const addr = email('pwtotp');
      const password = 'correct horse battery staple ' + addr;
      await ctx.client.passwords.create({ email: addr, password });
      const login = await ctx.client.passwords.authenticate({ email: addr, password, session_duration_minutes: 60 });
      assert.deepEqual(factors(login.session), ['password/knowledge']);
      const made = await ctx.client.totps.create({ user_id: login.user_id });
      const res = ok(await ctx.client.totps.authenticate({ user_id: login.user_id, totp_code: totp(made.secret), session_jwt: login.session_jwt }), T.TOTPsAuthenticateResponse, 'totps.authenticate (password session)');
      assert.equal(res.session.session_id, login.session.session_id);
      assert.deepEqual(factors(res.session), ['password/knowledge', 'totp/authenticator_app']);
      const local = await ctx.client.sessions.authenticateJwtLocal({ session_jwt: res.session_jwt });
      assert.equal(local.session_id, login.session.session_id);
      assert.deepEqual(factors(local), ['password/knowledge', 'totp/authenticator_app']);
    });

    it('a recovery code alone starts a session; a wrong code is refused; deleteTOTP removes it', async () => {
      const user = await ctx.client.users.create({ email: email('totp') });
      const made = await ctx.client.totps.create({ user_id: user.user_id });
      await expectError(ctx.client.totps.authenticate({ user_id: user.user_id, totp_code: totp(made.secret, 3) }), 401, 'unable_to_authenticate_totp', ctx.latch);
      const first = ok(await ctx.client.totps.authenticate({ user_id: user.user_id, totp_code: totp(made.secret) }), T.TOTPsAuthenticateResponse, 'totps.authenticate (no session)');
      assert.equal(first.session_token, '');
      assert.ok(first.session == null);
      await expectError(ctx.client.totps.create({ user_id: user.user_id }), 400, 'active_totp_exists', ctx.latch);

      const rec = ok(await ctx.client.totps.recover({ user_id: user.user_id, recovery_code: made.recovery_codes[9], session_duration_minutes: 30 }), T.TOTPsRecoverResponse, 'totps.recover (new session)');
      assert.deepEqual(factors(rec.session), ['recovery_codes/recovery_code']);

      await expectError(ctx.clientB.users.deleteTOTP({ totp_id: made.totp_id }), 404, 'totp_not_found', ctx.latch);
      const del = ok(await ctx.client.users.deleteTOTP({ totp_id: made.totp_id }), T.UsersDeleteTOTPResponse, 'users.deleteTOTP');
      assert.deepEqual(del.user.totps, []);
      await expectError(ctx.client.totps.authenticate({ user_id: user.user_id, totp_code: totp(made.secret) }), 404, 'totps_not_found_for_user', ctx.latch);
      const none = ok(await ctx.client.totps.recoveryCodes({ user_id: user.user_id }), T.TOTPsRecoveryCodesResponse, 'totps.recoveryCodes (none)');
      assert.deepEqual(none.totps, []);
    });
  });
}
