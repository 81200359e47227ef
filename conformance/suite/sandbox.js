// Stytch's sandbox values (CONTRACT.md §1.6), which Stytch's own SDK
// integration tests use: they answer in test projects without sending.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as T from '../lib/shapes.js';
import { expectError, ok } from '../lib/check.js';

const SANDBOX_USER = 'user-test-e3795c81-f849-4167-bfda-e4a6e9c280fd';

export default function sandbox(ctx) {
  describe('sandbox values', () => {
    it('magic-link tokens: 200, 401 unable_to_auth_magic_link, 404 magic_link_not_found', async () => {
      const res = ok(await ctx.client.magicLinks.authenticate({ token: 'DOYoip3rvIMMW5lgItikFK-Ak1CfMsgjuiCyI7uuU94=', session_duration_minutes: 60 }), T.MagicLinksAuthenticateResponse, 'magicLinks.authenticate (sandbox)');
      assert.equal(res.user_id, SANDBOX_USER);
      T.assertShape(res.session, T.Session, 'sandbox session');
      await expectError(ctx.client.magicLinks.authenticate({ token: '3pzjQpgksDlGKWEwUq2Up--hCHC_0oamfLHyfspKDFU=' }), 401, 'unable_to_auth_magic_link', ctx.latch);
      await expectError(ctx.client.magicLinks.authenticate({ token: 'CprTtwhnRNiMBiUS2jSLcWYrfuO2POeBNdo5HhW6qTM=' }), 404, 'magic_link_not_found', ctx.latch);
    });

    it('sandbox@stytch.com and +10000000000 send nothing; code 000000 authenticates', async () => {
      const before = ctx.latch.sms.messages.length + ctx.latch.mail.messages.length;
      const sent = ok(await ctx.client.magicLinks.email.loginOrCreate({ email: 'sandbox@stytch.com' }), T.MagicLinksEmailLoginOrCreateResponse, 'magicLinks.email.loginOrCreate (sandbox)');
      assert.equal(sent.user_id, SANDBOX_USER);
      const otp = ok(await ctx.client.otps.sms.send({ phone_number: '+10000000000' }), T.OTPsSmsSendResponse, 'otps.sms.send (sandbox)');
      const res = ok(await ctx.client.otps.authenticate({ method_id: otp.phone_id, code: '000000' }), T.OTPsAuthenticateResponse, 'otps.authenticate (sandbox)');
      assert.equal(res.user_id, SANDBOX_USER);
      assert.equal(ctx.latch.sms.messages.length + ctx.latch.mail.messages.length, before, 'nothing delivered');
    });

    it('session tokens: one that always works, one that never does', async () => {
      const res = ok(await ctx.client.sessions.authenticate({ session_token: 'WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3FtY' }), T.SessionsAuthenticateResponse, 'sessions.authenticate (sandbox)');
      assert.equal(res.user.user_id, SANDBOX_USER);
      await expectError(ctx.client.sessions.authenticate({ session_token: '59cnLELtq5cFVS6uYK9f-pAWzBkhqZl8AvLhbhOvKNWw' }), 404, 'session_not_found', ctx.latch);
    });
  });
}
