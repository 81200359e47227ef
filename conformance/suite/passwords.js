// client.passwords: create, authenticate, strength_check, migrate, reset by
// email, existing password and session, and users.deletePassword
// (types/lib/b2c/passwords*.d.ts, users.d.ts).
import assert from 'node:assert/strict';
import { createHash, pbkdf2Sync, randomBytes, scryptSync } from 'node:crypto';
import { describe, it } from 'node:test';
import * as T from '../lib/shapes.js';
import { email, expectError, ok, pkce } from '../lib/check.js';

const strong = 'Correct-horse-battery-staple-42';
const strong2 = 'Purple-elephant-juggles-quietly-7';
const migrated = 'Migrated-from-elsewhere-2024';

/** The token of a password-reset link in an email, checking the link's form. */
function resetToken(mail, base = 'https://app.example/authenticate') {
  const m = /https?:\/\/\S+/.exec(mail.text);
  assert.ok(m, `no link in email:\n${mail.text}`);
  const u = new URL(m[0]);
  assert.equal(u.origin + u.pathname, base, 'reset link redirect URL');
  assert.equal(u.searchParams.get('stytch_token_type'), 'reset_password', 'stytch_token_type');
  return u.searchParams.get('token');
}

// A hash of `migrated` in each form passwords.migrate takes.
function hashes() {
  const salt = randomBytes(16);
  const hex = (alg, s) => createHash(alg).update(s).digest('hex');
  return {
    bcrypt: { hash: '$2a$04$tvb2H7NYnf5n6NK4vaIa..ixJQYCubdMtqrJj6SaC5cCexTcNOb/y' },
    argon_2id: { hash: '$argon2id$v=19$m=1024,t=1,p=1$Y29uZm9ybWFuY2Utc2FsdA$urZhHjYVaDQ9WH2W8mAEv91Y0zC7sUx0GO3fFp02ke8' },
    argon_2i: { hash: '$argon2i$v=19$m=1024,t=1,p=1$Y29uZm9ybWFuY2Utc2FsdA$Ji18UvtozHKbKvwEXkXPVt/ponUIGHXdplKNF+Mkv1I' },
    md_5: { hash: hex('md5', `pre${migrated}post`), md_5_config: { prepend_salt: 'pre', append_salt: 'post' } },
    sha_1: { hash: hex('sha1', `${migrated}post`), sha_1_config: { prepend_salt: '', append_salt: 'post' } },
    scrypt: {
      hash: scryptSync(migrated, salt, 32, { N: 1024, r: 8, p: 1 }).toString('base64'),
      scrypt_config: { salt: salt.toString('base64'), n_parameter: 1024, r_parameter: 8, p_parameter: 1, key_length: 32 },
    },
    pbkdf_2: {
      hash: pbkdf2Sync(migrated, salt, 1000, 32, 'sha256').toString('base64'),
      pbkdf_2_config: { salt: salt.toString('base64'), iteration_amount: 1000, key_length: 32, algorithm: 'sha256' },
    },
  };
}

export default function passwords(ctx) {
  describe('passwords', () => {
    it('create, authenticate; a wrong password is refused and counted, and locks the user', async () => {
      const addr = email('pw');
      const c = ok(await ctx.client.passwords.create({ email: addr, password: strong, session_duration_minutes: 60 }), T.PasswordsCreateResponse, 'passwords.create');
      assert.match(c.user.password.password_id, /^password-test-/);
      assert.equal(c.user.password.requires_reset, false);
      const [f] = c.session.authentication_factors;
      assert.equal(`${f.type}/${f.delivery_method}`, 'password/knowledge');
      assert.deepEqual(f.email_factor, { email_id: c.email_id, email_address: addr });
      const a = ok(await ctx.client.passwords.authenticate({ email: addr, password: strong, session_duration_minutes: 60 }), T.PasswordsAuthenticateResponse, 'passwords.authenticate');
      assert.equal(a.user_id, c.user_id);
      await expectError(ctx.client.passwords.create({ email: addr, password: strong2 }), 400, 'duplicate_email', ctx.latch);
      await expectError(ctx.client.passwords.create({ email: email('weak'), password: 'password1' }), 400, 'weak_password', ctx.latch);
      for (let i = 0; i < 10; i++) {
        await expectError(ctx.client.passwords.authenticate({ email: addr, password: `wrong-${i}-${strong2}` }), 401, 'unauthorized_credentials', ctx.latch);
      }
      await expectError(ctx.client.passwords.authenticate({ email: addr, password: strong }), 429, 'user_lock_limit_reached', ctx.latch);
      const u = await ctx.client.users.get({ user_id: c.user_id });
      assert.equal(u.is_locked, true);
      await expectError(ctx.client.passwords.authenticate({ email: email('nobody'), password: strong }), 401, 'unauthorized_credentials', ctx.latch);
    });

    it('a password joins the session named by session_token', async () => {
      const addr = email('pw-join');
      const user = await ctx.client.users.create({ email: addr });
      await ctx.client.passwords.migrate({ email: addr, hash: hashes().md_5.hash, hash_type: 'md_5', md_5_config: hashes().md_5.md_5_config });
      const link = await ctx.client.magicLinks.create({ user_id: user.user_id });
      const first = await ctx.client.magicLinks.authenticate({ token: link.token, session_duration_minutes: 60 });
      const res = ok(await ctx.client.passwords.authenticate({ email: addr, password: migrated, session_token: first.session_token }), T.PasswordsAuthenticateResponse, 'passwords.authenticate (onto a session)');
      assert.equal(res.session.session_id, first.session.session_id);
      assert.deepEqual(res.session.authentication_factors.map((f) => f.type), ['magic_link', 'password']);
    });

    it('migrate from each hash type, authenticate, and the hash is rehashed', async () => {
      for (const [type, body] of Object.entries(hashes())) {
        const addr = email(`mig-${type}`);
        const m = ok(await ctx.client.passwords.migrate({ email: addr, hash_type: type, ...body, set_email_verified: true, name: { first_name: 'Mig' } }), T.PasswordsMigrateResponse, `passwords.migrate ${type}`);
        assert.equal(m.user_created, true, type);
        assert.equal(m.user.emails[0].verified, true, type);
        await expectError(ctx.client.passwords.authenticate({ email: addr, password: strong }), 401, 'unauthorized_credentials', ctx.latch);
        ok(await ctx.client.passwords.authenticate({ email: addr, password: migrated }), T.PasswordsAuthenticateResponse, `passwords.authenticate ${type}`);
        // Rehashed: still the same password, and it still works.
        const again = ok(await ctx.client.passwords.authenticate({ email: addr, password: migrated }), T.PasswordsAuthenticateResponse, `passwords.authenticate ${type} again`);
        assert.equal(again.user.password.password_id, m.user.password.password_id, type);
      }
      await expectError(ctx.client.passwords.migrate({ email: email('mig'), hash_type: 'phpass', hash: '$P$x' }), 400, 'bad_request', ctx.latch);
    });

    it('reset by email link, with PKCE and the redirect allow-list', async () => {
      const addr = email('pw-reset');
      const c = await ctx.client.passwords.create({ email: addr, password: strong });
      const { verifier, challenge } = pkce();
      await expectError(ctx.client.passwords.email.resetStart({ email: addr, reset_password_redirect_url: 'https://evil.example/' }), 400, 'no_match_for_provided_magic_link_url', ctx.latch);
      const s = ok(await ctx.client.passwords.email.resetStart({ email: addr, code_challenge: challenge, reset_password_expiration_minutes: 15, locale: 'en' }), T.PasswordsEmailResetStartResponse, 'passwords.email.resetStart');
      assert.equal(s.user_id, c.user_id);
      assert.equal(s.email_id, c.email_id);
      const token = resetToken(await ctx.latch.mail.waitFor(addr));
      await expectError(ctx.client.passwords.email.reset({ token, password: strong2 }), 400, 'pkce_expected_code_verifier', ctx.latch);
      const r = ok(await ctx.client.passwords.email.reset({ token, password: strong2, code_verifier: verifier, session_duration_minutes: 60 }), T.PasswordsEmailResetResponse, 'passwords.email.reset');
      assert.equal(r.user_id, c.user_id);
      assert.equal(r.user.emails[0].verified, true);
      await expectError(ctx.client.passwords.email.reset({ token, password: strong, code_verifier: verifier }), 401, 'unable_to_auth_magic_link', ctx.latch);
      await expectError(ctx.client.passwords.authenticate({ email: addr, password: strong }), 401, 'unauthorized_credentials', ctx.latch);
      ok(await ctx.client.passwords.authenticate({ email: addr, password: strong2 }), T.PasswordsAuthenticateResponse, 'passwords.authenticate (after reset)');
    });

    it('reset with the existing password, and with a fresh session', async () => {
      const addr = email('pw-existing');
      const c = await ctx.client.passwords.create({ email: addr, password: strong, session_duration_minutes: 60 });
      const e = ok(await ctx.client.passwords.existingPassword.reset({ email: addr, existing_password: strong, new_password: strong2, session_duration_minutes: 60 }), T.PasswordsExistingPasswordResetResponse, 'passwords.existingPassword.reset');
      assert.equal(e.user_id, c.user_id);
      await expectError(ctx.client.passwords.existingPassword.reset({ email: addr, existing_password: strong, new_password: strong2 }), 401, 'unauthorized_credentials', ctx.latch);
      const s = ok(await ctx.client.passwords.sessions.reset({ password: strong, session_token: c.session_token }), T.PasswordsSessionResetResponse, 'passwords.sessions.reset');
      assert.equal(s.session.session_id, c.session.session_id);
      ok(await ctx.client.passwords.authenticate({ email: addr, password: strong }), T.PasswordsAuthenticateResponse, 'passwords.authenticate (after session reset)');
    });

    it('strength check of a weak and a strong password', async () => {
      const weak = ok(await ctx.client.passwords.strengthCheck({ password: 'password1' }), T.PasswordsStrengthCheckResponse, 'passwords.strengthCheck (weak)');
      assert.equal(weak.valid_password, false);
      assert.equal(weak.strength_policy, 'zxcvbn');
      assert.ok(weak.feedback.warning.length > 0);
      assert.ok(weak.score < 3);
      const good = ok(await ctx.client.passwords.strengthCheck({ password: strong, email: 'kai@example.com' }), T.PasswordsStrengthCheckResponse, 'passwords.strengthCheck (strong)');
      assert.equal(good.valid_password, true);
      assert.equal(good.score, 4);
      assert.equal(good.breached_password, false);
      assert.equal(good.breach_detection_on_create, false); // no --breached-passwords-dir here
    });

    it('users.deletePassword removes the password', async () => {
      const addr = email('pw-del');
      const c = await ctx.client.passwords.create({ email: addr, password: strong });
      const d = ok(await ctx.client.users.deletePassword({ password_id: c.user.password.password_id }), T.UsersDeletePasswordResponse, 'users.deletePassword');
      assert.equal(d.user_id, c.user_id);
      assert.ok(d.user.password == null);
      await expectError(ctx.client.users.deletePassword({ password_id: c.user.password.password_id }), 404, 'password_not_found', ctx.latch);
      await expectError(ctx.client.passwords.authenticate({ email: addr, password: strong }), 401, 'unauthorized_credentials', ctx.latch);
    });
  });
}
