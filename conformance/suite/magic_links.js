// client.magicLinks and client.magicLinks.email: login_or_create, send,
// invite, revoke_invite, create (embeddable), authenticate — with PKCE and
// onto an existing session (types/lib/b2c/magic_links*.d.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as T from '../lib/shapes.js';
import { email, expectError, ids, linkToken, ok, phone, pkce } from '../lib/check.js';

export default function magicLinks(ctx) {
  describe('magic links', () => {
    it('login_or_create signs up a new address; authenticate starts a session', async () => {
      const addr = email('ml-signup');
      const sent = ok(await ctx.client.magicLinks.email.loginOrCreate({ email: addr }), T.MagicLinksEmailLoginOrCreateResponse, 'magicLinks.email.loginOrCreate');
      assert.equal(sent.user_created, true);
      assert.match(sent.user_id, ids.user);
      assert.match(sent.email_id, ids.email);
      const mail = await ctx.latch.mail.waitFor(addr);
      assert.match(mail.subject, /sign-up/i);
      const token = linkToken(mail);

      const res = ok(await ctx.client.magicLinks.authenticate({ token, session_duration_minutes: 60 }), T.MagicLinksAuthenticateResponse, 'magicLinks.authenticate');
      assert.equal(res.user_id, sent.user_id);
      assert.equal(res.method_id, sent.email_id, 'method_id is the email_id');
      assert.equal(res.reset_sessions, false);
      assert.match(res.session_token, /^[A-Za-z0-9_-]{44}$/);
      assert.equal(res.session_jwt.split('.').length, 3);
      T.assertShape(res.session, T.Session, 'session');
      assert.match(res.session.session_id, ids.session);
      const [factor] = res.session.authentication_factors;
      assert.equal(factor.type, 'magic_link');
      assert.equal(factor.delivery_method, 'email');
      assert.deepEqual(factor.email_factor, { email_id: sent.email_id, email_address: addr });
      assert.equal(res.user.status, 'active');
      assert.equal(res.user.emails[0].verified, true, 'the link verifies the email');
      const expires = Date.parse(res.session.expires_at) - Date.now();
      assert.ok(expires > 55 * 60e3 && expires <= 61 * 60e3, `expires_at ${res.session.expires_at} is now + 60 min`);
    });

    it('login_or_create for an active user sends a login link; authenticate without a duration starts no session', async () => {
      const addr = email('ml-login');
      const made = await ctx.client.users.create({ email: addr });
      const sent = ok(await ctx.client.magicLinks.email.loginOrCreate({ email: addr }), T.MagicLinksEmailLoginOrCreateResponse, 'magicLinks.email.loginOrCreate');
      assert.equal(sent.user_created, false);
      assert.equal(sent.user_id, made.user_id);
      const mail = await ctx.latch.mail.waitFor(addr);
      assert.match(mail.subject, /login/i);
      const res = ok(await ctx.client.magicLinks.authenticate({ token: linkToken(mail) }), T.MagicLinksAuthenticateResponse, 'magicLinks.authenticate');
      assert.equal(res.session_token, '');
      assert.equal(res.session_jwt, '');
      assert.ok(res.session == null, 'no session');
    });

    it('login_or_create with create_user_as_pending makes a pending user that the link activates', async () => {
      const addr = email('ml-pending');
      const sent = await ctx.client.magicLinks.email.loginOrCreate({ email: addr, create_user_as_pending: true });
      assert.equal((await ctx.client.users.get({ user_id: sent.user_id })).status, 'pending');
      const res = await ctx.client.magicLinks.authenticate({ token: linkToken(await ctx.latch.mail.waitFor(addr)) });
      assert.equal(res.user.status, 'active');
    });

    it('send with PKCE: the verifier is required and must match', async () => {
      const addr = email('ml-pkce');
      await ctx.client.users.create({ email: addr });
      const { verifier, challenge } = pkce();
      const sent = ok(await ctx.client.magicLinks.email.send({
        email: addr, code_challenge: challenge, login_magic_link_url: 'https://app.example/authenticate',
      }), T.MagicLinksEmailSendResponse, 'magicLinks.email.send');
      const token = linkToken(await ctx.latch.mail.waitFor(addr));
      await expectError(ctx.client.magicLinks.authenticate({ token }), 400, 'pkce_expected_code_verifier', ctx.latch);
      await expectError(ctx.client.magicLinks.authenticate({ token, code_verifier: pkce().verifier }), 400, 'pkce_mismatch', ctx.latch);
      // A PKCE failure leaves the link unused.
      const res = ok(await ctx.client.magicLinks.authenticate({ token, code_verifier: verifier, session_duration_minutes: 5 }), T.MagicLinksAuthenticateResponse, 'magicLinks.authenticate (PKCE)');
      assert.equal(res.method_id, sent.email_id);
      T.assertShape(res.session, T.Session, 'session');
    });

    it('send without PKCE refuses a verifier', async () => {
      const addr = email('ml-nopkce');
      await ctx.client.users.create({ email: addr });
      await ctx.client.magicLinks.email.send({ email: addr });
      const token = linkToken(await ctx.latch.mail.waitFor(addr));
      await expectError(ctx.client.magicLinks.authenticate({ token, code_verifier: pkce().verifier }), 400, 'pkce_did_not_expect_code_verifier', ctx.latch);
    });

    it('send with a session attaches a new email; authenticate with the session adds the factor to it', async () => {
      const tel = phone();
      const user = await ctx.client.users.create({ phone_number: tel });
      const { token: embedded } = await ctx.client.magicLinks.create({ user_id: user.user_id });
      const login = await ctx.client.magicLinks.authenticate({ token: embedded, session_duration_minutes: 30 });

      const addr = email('ml-attach');
      const sent = ok(await ctx.client.magicLinks.email.send({ email: addr, session_token: login.session_token }), T.MagicLinksEmailSendResponse, 'magicLinks.email.send (attach)');
      assert.equal(sent.user_id, user.user_id);
      const pending = await ctx.client.users.get({ user_id: user.user_id });
      assert.deepEqual(pending.emails, [{ email_id: sent.email_id, email: addr, verified: false }]);

      const token = linkToken(await ctx.latch.mail.waitFor(addr));
      const res = ok(await ctx.client.magicLinks.authenticate({ token, session_jwt: login.session_jwt }), T.MagicLinksAuthenticateResponse, 'magicLinks.authenticate (onto a session)');
      assert.equal(res.session.session_id, login.session.session_id, 'same session');
      assert.equal(res.session_token, login.session_token);
      assert.deepEqual(res.session.authentication_factors.map((f) => `${f.type}/${f.delivery_method}`), ['magic_link/embedded', 'magic_link/email']);
      assert.deepEqual(res.user.emails, [{ email_id: sent.email_id, email: addr, verified: true }]);
    });

    it('invite makes a pending user; revoke_invite removes them; a new invite can be accepted', async () => {
      const addr = email('ml-invite');
      const inv = ok(await ctx.client.magicLinks.email.invite({
        email: addr, name: { first_name: 'Invited' }, trusted_metadata: { team: 'blue' },
      }), T.MagicLinksEmailInviteResponse, 'magicLinks.email.invite');
      const invited = await ctx.client.users.get({ user_id: inv.user_id });
      assert.equal(invited.status, 'pending');
      assert.deepEqual(invited.trusted_metadata, { team: 'blue' });
      const first = await ctx.latch.mail.waitFor(addr);
      assert.match(first.subject, /invited/i);

      ok(await ctx.client.magicLinks.email.revokeInvite({ email: addr }), T.MagicLinksEmailRevokeInviteResponse, 'magicLinks.email.revokeInvite');
      await expectError(ctx.client.users.get({ user_id: inv.user_id }), 404, 'user_not_found', ctx.latch);
      await expectError(ctx.client.magicLinks.authenticate({ token: linkToken(first) }), 404, 'magic_link_not_found', ctx.latch);

      const again = await ctx.client.magicLinks.email.invite({ email: addr });
      const res = ok(await ctx.client.magicLinks.authenticate({ token: linkToken(await ctx.latch.mail.waitFor(addr, 2)), session_duration_minutes: 10 }), T.MagicLinksAuthenticateResponse, 'magicLinks.authenticate (invite)');
      assert.equal(res.user_id, again.user_id);
      assert.equal(res.user.status, 'active');
    });

    it('create returns an embeddable token that authenticates without verifying anything', async () => {
      const addr = email('ml-embed');
      const user = await ctx.client.users.create({ email: addr });
      const made = ok(await ctx.client.magicLinks.create({ user_id: user.user_id, expiration_minutes: 10 }), T.MagicLinksCreateResponse, 'magicLinks.create');
      assert.equal(made.user_id, user.user_id);
      assert.match(made.token, /^[A-Za-z0-9_-]{43}=$/);
      assert.equal(ctx.latch.mail.count(addr), 0, 'nothing is sent');
      const res = ok(await ctx.client.magicLinks.authenticate({ token: made.token, session_duration_minutes: 5 }), T.MagicLinksAuthenticateResponse, 'magicLinks.authenticate (embedded)');
      const [factor] = res.session.authentication_factors;
      assert.equal(`${factor.type}/${factor.delivery_method}`, 'magic_link/embedded');
      assert.equal(typeof factor.embeddable_magic_link_factor?.embedded_id, 'string');
      assert.equal(res.user.emails[0].verified, false);
    });

    describe('errors', () => {
      it('authenticate: unknown → 404 magic_link_not_found; used → 401 unable_to_auth_magic_link', async () => {
        await expectError(ctx.client.magicLinks.authenticate({ token: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }), 404, 'magic_link_not_found', ctx.latch);
        const user = await ctx.client.users.create({ email: email('ml-used') });
        const { token } = await ctx.client.magicLinks.create({ user_id: user.user_id });
        await ctx.client.magicLinks.authenticate({ token });
        await expectError(ctx.client.magicLinks.authenticate({ token }), 401, 'unable_to_auth_magic_link', ctx.latch);
      });

      it('authenticate: options that do not match → 401 attribute_mismatch', async () => {
        const user = await ctx.client.users.create({ email: email('ml-attr') });
        const { token } = await ctx.client.magicLinks.create({ user_id: user.user_id, attributes: { ip_address: '198.51.100.1', user_agent: 'sender' } });
        await expectError(ctx.client.magicLinks.authenticate({
          token, attributes: { ip_address: '198.51.100.2', user_agent: 'sender' }, options: { ip_match_required: true },
        }), 401, 'attribute_mismatch', ctx.latch);
        ok(await ctx.client.magicLinks.authenticate({
          token, attributes: { ip_address: '198.51.100.1', user_agent: 'sender' }, options: { ip_match_required: true, user_agent_match_required: true },
        }), T.MagicLinksAuthenticateResponse, 'magicLinks.authenticate (matching options)');
      });

      it('authenticate: a bad session or duration', async () => {
        const user = await ctx.client.users.create({ email: email('ml-badsess') });
        const { token } = await ctx.client.magicLinks.create({ user_id: user.user_id });
        await expectError(ctx.client.magicLinks.authenticate({ token, session_token: 'x'.repeat(44) }), 404, 'session_not_found', ctx.latch);
        await expectError(ctx.client.magicLinks.authenticate({ token, session_duration_minutes: 1 }), 400, 'invalid_session_duration_minutes', ctx.latch);
      });

      it('send: unknown email → 404 email_not_found', async () => {
        await expectError(ctx.client.magicLinks.email.send({ email: email('nobody') }), 404, 'email_not_found', ctx.latch);
      });

      it('send and login_or_create: bad address, URL, expiry, locale, template', async () => {
        const le = ctx.client.magicLinks.email;
        await expectError(le.loginOrCreate({ email: 'nope' }), 400, 'invalid_email', ctx.latch);
        await expectError(le.loginOrCreate({ email: email('ml-url'), signup_magic_link_url: 'https://evil.example/steal' }), 400, 'no_match_for_provided_magic_link_url', ctx.latch);
        const known = email('ml-url-known');
        await ctx.client.users.create({ email: known });
        await expectError(le.send({ email: known, login_magic_link_url: 'https://app.example.evil/authenticate' }), 400, 'no_match_for_provided_magic_link_url', ctx.latch);
        await expectError(le.loginOrCreate({ email: email('ml-exp'), signup_expiration_minutes: 1 }), 400, 'invalid_expiration', ctx.latch);
        await expectError(le.loginOrCreate({ email: email('ml-loc'), locale: 'xx' }), 400, 'invalid_locale', ctx.latch);
        await expectError(le.loginOrCreate({ email: email('ml-tpl'), signup_template_id: 'no-such-template' }), 404, 'email_template_not_found', ctx.latch);
      });

      it('a project without redirect URLs → no_{login,signup,invite}_redirect_urls_set', async () => {
        const addr = email('ml-c');
        await ctx.clientC.users.create({ email: addr });
        await expectError(ctx.clientC.magicLinks.email.send({ email: addr }), 400, 'no_login_redirect_urls_set', ctx.latch);
        await expectError(ctx.clientC.magicLinks.email.loginOrCreate({ email: email('ml-c-new') }), 400, 'no_signup_redirect_urls_set', ctx.latch);
        await expectError(ctx.clientC.magicLinks.email.invite({ email: email('ml-c-inv') }), 400, 'no_invite_redirect_urls_set', ctx.latch);
      });

      it('revoke_invite for an unknown or active address → 404 email_not_found', async () => {
        await expectError(ctx.client.magicLinks.email.revokeInvite({ email: email('ml-noinv') }), 404, 'email_not_found', ctx.latch);
        const addr = email('ml-active');
        await ctx.client.users.create({ email: addr });
        await expectError(ctx.client.magicLinks.email.revokeInvite({ email: addr }), 404, 'email_not_found', ctx.latch);
      });

      it('invite for an active user → 400 duplicate_email', async () => {
        const addr = email('ml-inv-active');
        await ctx.client.users.create({ email: addr });
        await expectError(ctx.client.magicLinks.email.invite({ email: addr }), 400, 'duplicate_email', ctx.latch);
      });

      it('create for an unknown user → 404 user_not_found', async () => {
        await expectError(ctx.client.magicLinks.create({ user_id: 'user-test-00000000-0000-4000-8000-000000000000' }), 404, 'user_not_found', ctx.latch);
      });
    });
  });
}
