// client.otps: sms, whatsapp and email send / login_or_create, and
// authenticate alone or onto a session (types/lib/b2c/otps*.d.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as T from '../lib/shapes.js';
import { email, expectError, ids, ok, otpCode, phone } from '../lib/check.js';

export default function otps(ctx) {
  const sms = (to, n = 1) => ctx.latch.sms.waitFor('sms', to, n).then((m) => otpCode(m.body));
  const whatsapp = (to, n = 1) => ctx.latch.sms.waitFor('whatsapp', to, n).then((m) => otpCode(m.body));
  const mailed = (to, n = 1) => ctx.latch.mail.waitFor(to, n).then((m) => otpCode(m.text));

  describe('one-time passcodes', () => {
    it('sms login_or_create, then authenticate with a duration starts a session', async () => {
      const tel = phone();
      const sent = ok(await ctx.client.otps.sms.loginOrCreate({ phone_number: tel }), T.OTPsSmsLoginOrCreateResponse, 'otps.sms.loginOrCreate');
      assert.equal(sent.user_created, true);
      assert.match(sent.phone_id, ids.phone);
      const msg = await ctx.latch.sms.waitFor('sms', tel);
      assert.equal(msg.from, '+15005550006');
      const res = ok(await ctx.client.otps.authenticate({ method_id: sent.phone_id, code: otpCode(msg.body), session_duration_minutes: 60 }), T.OTPsAuthenticateResponse, 'otps.authenticate');
      assert.equal(res.method_id, sent.phone_id);
      assert.equal(res.user_id, sent.user_id);
      assert.equal(res.reset_sessions, false);
      T.assertShape(res.session, T.Session, 'session');
      const [factor] = res.session.authentication_factors;
      assert.equal(`${factor.type}/${factor.delivery_method}`, 'otp/sms');
      assert.deepEqual(factor.phone_number_factor, { phone_id: sent.phone_id, phone_number: tel });
      assert.deepEqual(res.user.phone_numbers, [{ phone_id: sent.phone_id, phone_number: tel, verified: true }]);
    });

    it('sms send to a known number, authenticate alone starts no session', async () => {
      const tel = phone();
      const user = await ctx.client.users.create({ phone_number: tel });
      const sent = ok(await ctx.client.otps.sms.send({ phone_number: tel, expiration_minutes: 5, locale: 'en' }), T.OTPsSmsSendResponse, 'otps.sms.send');
      assert.equal(sent.user_id, user.user_id);
      assert.equal(sent.phone_id, user.phone_id);
      const res = ok(await ctx.client.otps.authenticate({ method_id: sent.phone_id, code: await sms(tel) }), T.OTPsAuthenticateResponse, 'otps.authenticate (no session)');
      assert.equal(res.session_token, '');
      assert.equal(res.session_jwt, '');
      assert.ok(res.session == null);
    });

    it('a new send cancels the previous code', async () => {
      const tel = phone();
      const sent = await ctx.client.otps.sms.loginOrCreate({ phone_number: tel });
      const first = await sms(tel, 1);
      await ctx.client.otps.sms.send({ phone_number: tel });
      const second = await sms(tel, 2);
      if (first !== second) {
        await expectError(ctx.client.otps.authenticate({ method_id: sent.phone_id, code: first }), 404, 'otp_code_not_found', ctx.latch);
      }
      ok(await ctx.client.otps.authenticate({ method_id: sent.phone_id, code: second }), T.OTPsAuthenticateResponse, 'otps.authenticate');
    });

    it('whatsapp login_or_create and send; authenticate onto an sms session by JWT', async () => {
      const tel = phone();
      const sent = ok(await ctx.client.otps.whatsapp.loginOrCreate({ phone_number: tel }), T.OTPsWhatsAppLoginOrCreateResponse, 'otps.whatsapp.loginOrCreate');
      assert.equal(sent.user_created, true);
      const msg = await ctx.latch.sms.waitFor('whatsapp', tel);
      assert.equal(msg.from, 'whatsapp:+14155238886');
      const login = await ctx.client.otps.authenticate({ method_id: sent.phone_id, code: otpCode(msg.body), session_duration_minutes: 30 });
      assert.deepEqual(login.session.authentication_factors.map((f) => `${f.type}/${f.delivery_method}`), ['otp/whatsapp']);

      const again = ok(await ctx.client.otps.sms.send({ phone_number: tel }), T.OTPsSmsSendResponse, 'otps.sms.send');
      const step = ok(await ctx.client.otps.authenticate({ method_id: again.phone_id, code: await sms(tel), session_jwt: login.session_jwt }), T.OTPsAuthenticateResponse, 'otps.authenticate (onto a session)');
      assert.equal(step.session.session_id, login.session.session_id);
      assert.deepEqual(step.session.authentication_factors.map((f) => `${f.type}/${f.delivery_method}`), ['otp/whatsapp', 'otp/sms']);

      const wa = ok(await ctx.client.otps.whatsapp.send({ phone_number: tel }), T.OTPsWhatsAppSendResponse, 'otps.whatsapp.send');
      assert.equal(wa.user_id, sent.user_id);
      ok(await ctx.client.otps.authenticate({ method_id: wa.phone_id, code: await whatsapp(tel, 2) }), T.OTPsAuthenticateResponse, 'otps.authenticate (whatsapp)');
    });

    it('email login_or_create and send; authenticate onto a session by token', async () => {
      const addr = email('otp');
      const sent = ok(await ctx.client.otps.email.loginOrCreate({ email: addr, expiration_minutes: 10 }), T.OTPsEmailLoginOrCreateResponse, 'otps.email.loginOrCreate');
      assert.equal(sent.user_created, true);
      assert.match(sent.email_id, ids.email);
      const login = ok(await ctx.client.otps.authenticate({ method_id: sent.email_id, code: await mailed(addr), session_duration_minutes: 15 }), T.OTPsAuthenticateResponse, 'otps.authenticate (email)');
      const [factor] = login.session.authentication_factors;
      assert.equal(`${factor.type}/${factor.delivery_method}`, 'otp/email');
      assert.deepEqual(factor.email_factor, { email_id: sent.email_id, email_address: addr });
      assert.equal(login.user.emails[0].verified, true);

      // Add a phone to the signed-in user with send + session, then step up.
      const tel = phone();
      const attach = ok(await ctx.client.otps.sms.send({ phone_number: tel, session_token: login.session_token }), T.OTPsSmsSendResponse, 'otps.sms.send (attach)');
      assert.equal(attach.user_id, sent.user_id);
      const step = ok(await ctx.client.otps.authenticate({
        method_id: attach.phone_id, code: await sms(tel), session_token: login.session_token, session_custom_claims: { mfa: true },
      }), T.OTPsAuthenticateResponse, 'otps.authenticate (step-up)');
      assert.equal(step.session.session_id, login.session.session_id);
      assert.equal(step.session.authentication_factors.length, 2);
      assert.deepEqual(step.session.custom_claims, { mfa: true });
      assert.ok(step.user.phone_numbers.some((p) => p.phone_id === attach.phone_id && p.verified));

      const again = ok(await ctx.client.otps.email.send({ email: addr }), T.OTPsEmailSendResponse, 'otps.email.send');
      assert.equal(again.email_id, sent.email_id);
      ok(await ctx.client.otps.authenticate({ method_id: again.email_id, code: await mailed(addr, 2) }), T.OTPsAuthenticateResponse, 'otps.authenticate');
    });

    it('login_or_create with create_user_as_pending; the code activates the user', async () => {
      const addr = email('otp-pending');
      const sent = await ctx.client.otps.email.loginOrCreate({ email: addr, create_user_as_pending: true });
      assert.equal((await ctx.client.users.get({ user_id: sent.user_id })).status, 'pending');
      const res = await ctx.client.otps.authenticate({ method_id: sent.email_id, code: await mailed(addr) });
      assert.equal(res.user.status, 'active');
    });

    describe('errors', () => {
      it('authenticate: wrong → 404 otp_code_not_found; used → 401 unable_to_auth_otp_code', async () => {
        const tel = phone();
        const sent = await ctx.client.otps.sms.loginOrCreate({ phone_number: tel });
        const code = await sms(tel);
        const wrong = code === '123456' ? '654321' : '123456';
        await expectError(ctx.client.otps.authenticate({ method_id: sent.phone_id, code: wrong }), 404, 'otp_code_not_found', ctx.latch);
        await ctx.client.otps.authenticate({ method_id: sent.phone_id, code });
        await expectError(ctx.client.otps.authenticate({ method_id: sent.phone_id, code }), 401, 'unable_to_auth_otp_code', ctx.latch);
      });

      it('authenticate: no method_id or a malformed code → 400; an unknown method_id → 404', async () => {
        await expectError(ctx.client.otps.authenticate({ method_id: '', code: '123456' }), 400, 'invalid_method_id', ctx.latch);
        // Latch answers an unknown method_id like a wrong code, so ids say nothing across tenants.
        await expectError(ctx.client.otps.authenticate({ method_id: 'phone-number-test-00000000-0000-4000-8000-000000000000', code: '123456' }), 404, 'otp_code_not_found', ctx.latch);
        const sent = await ctx.client.otps.sms.loginOrCreate({ phone_number: phone() });
        await expectError(ctx.client.otps.authenticate({ method_id: sent.phone_id, code: '12ab' }), 400, 'invalid_code', ctx.latch);
      });

      it('authenticate: a code dies after five wrong tries', async () => {
        const tel = phone();
        const sent = await ctx.client.otps.sms.loginOrCreate({ phone_number: tel });
        const code = await sms(tel);
        const wrong = code === '000001' ? '000002' : '000001';
        for (let i = 0; i < 5; i++) {
          await expectError(ctx.client.otps.authenticate({ method_id: sent.phone_id, code: wrong }), 404, 'otp_code_not_found');
        }
        await expectError(ctx.client.otps.authenticate({ method_id: sent.phone_id, code }), 401, 'unable_to_auth_otp_code', ctx.latch);
      });

      it('ten failed authentications lock the user → 429 user_lock_limit_reached', async () => {
        const tel = phone();
        const sent = await ctx.client.otps.sms.loginOrCreate({ phone_number: tel });
        let code = await sms(tel, 1);
        let failures = 0;
        for (let round = 1; failures < 10; round++) {
          if (round > 1) {
            await ctx.client.otps.sms.send({ phone_number: tel });
            code = await sms(tel, round);
          }
          const wrong = code === '999999' ? '999998' : '999999';
          for (let i = 0; i < 5 && failures < 10; i++, failures++) {
            await expectError(ctx.client.otps.authenticate({ method_id: sent.phone_id, code: wrong }), 404, 'otp_code_not_found');
          }
        }
        await ctx.client.otps.sms.send({ phone_number: tel });
        const fresh = await sms(tel, 3);
        await expectError(ctx.client.otps.authenticate({ method_id: sent.phone_id, code: fresh }), 429, 'user_lock_limit_reached', ctx.latch);
        const user = ok(await ctx.client.users.get({ user_id: sent.user_id }), T.UsersGetResponse, 'users.get (locked)');
        assert.equal(user.is_locked, true);
        assert.equal(typeof user.lock_created_at, 'string');
        assert.equal(typeof user.lock_expires_at, 'string');
      });

      it('authenticate onto another user\'s session → 400 user_id_mismatch', async () => {
        const a = await ctx.client.users.create({ email: email('mm-a') });
        const { token } = await ctx.client.magicLinks.create({ user_id: a.user_id });
        const login = await ctx.client.magicLinks.authenticate({ token, session_duration_minutes: 10 });
        const tel = phone();
        const b = await ctx.client.otps.sms.loginOrCreate({ phone_number: tel });
        await expectError(ctx.client.otps.authenticate({ method_id: b.phone_id, code: await sms(tel), session_token: login.session_token }), 400, 'user_id_mismatch', ctx.latch);
      });

      it('send: unknown number or address → 404', async () => {
        await expectError(ctx.client.otps.sms.send({ phone_number: phone() }), 404, 'phone_number_not_found', ctx.latch);
        await expectError(ctx.client.otps.whatsapp.send({ phone_number: phone() }), 404, 'phone_number_not_found', ctx.latch);
        await expectError(ctx.client.otps.email.send({ email: email('otp-nobody') }), 404, 'email_not_found', ctx.latch);
      });

      it('send and login_or_create: bad number, address, expiry, locale', async () => {
        await expectError(ctx.client.otps.sms.loginOrCreate({ phone_number: '12025550100' }), 400, 'invalid_phone_number', ctx.latch);
        await expectError(ctx.client.otps.whatsapp.loginOrCreate({ phone_number: '+999123' }), 400, 'invalid_phone_number_country_code', ctx.latch);
        await expectError(ctx.client.otps.email.loginOrCreate({ email: 'a@b' }), 400, 'invalid_email', ctx.latch);
        await expectError(ctx.client.otps.sms.loginOrCreate({ phone_number: phone(), expiration_minutes: 11 }), 400, 'invalid_expiration_otp', ctx.latch);
        await expectError(ctx.client.otps.email.loginOrCreate({ email: email('otp-loc'), locale: 'de-DE' }), 400, 'invalid_locale', ctx.latch);
      });

      it('send with a session: a number owned by someone else → 400 duplicate_phone_number', async () => {
        const taken = phone();
        await ctx.client.users.create({ phone_number: taken });
        const me = await ctx.client.users.create({ email: email('otp-dup') });
        await expectError(ctx.client.otps.sms.send({ phone_number: taken, user_id: me.user_id }), 400, 'duplicate_phone_number', ctx.latch);
      });
    });
  });
}
