// client.sessions: get, authenticate (token, JWT, extension, custom
// claims), revoke (id, token, JWT), getJWKS (types/lib/b2c/sessions.d.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as T from '../lib/shapes.js';
import { decodeJwt, email, expectError, ids, ok } from '../lib/check.js';

/** A signed-in user of the client's project, by an embeddable magic link. */
export async function signIn(client, minutes = 60, extra = {}) {
  const addr = email('sess');
  const user = await client.users.create({ email: addr });
  const { token } = await client.magicLinks.create({ user_id: user.user_id });
  const login = await client.magicLinks.authenticate({ token, session_duration_minutes: minutes, ...extra });
  return { ...login, email: addr };
}

export default function sessions(ctx) {
  describe('sessions', () => {
    it('get lists the user\'s live sessions (SessionsGetResponse)', async () => {
      const a = await signIn(ctx.client);
      const { token } = await ctx.client.magicLinks.create({ user_id: a.user_id });
      const b = await ctx.client.magicLinks.authenticate({ token, session_duration_minutes: 10 });
      const res = ok(await ctx.client.sessions.get({ user_id: a.user_id }), T.SessionsGetResponse, 'sessions.get');
      assert.deepEqual(res.sessions.map((s) => s.session_id).sort(), [a.session.session_id, b.session.session_id].sort());
      for (const s of res.sessions) assert.equal(s.user_id, a.user_id);
    });

    it('authenticate by token returns SessionsAuthenticateResponse', async () => {
      const login = await signIn(ctx.client, 60, { attributes: { ip_address: '192.0.2.10', user_agent: 'conformance/1' } });
      const res = ok(await ctx.client.sessions.authenticate({ session_token: login.session_token }), T.SessionsAuthenticateResponse, 'sessions.authenticate');
      assert.equal(res.session.session_id, login.session.session_id);
      assert.equal(res.session_token, login.session_token);
      assert.equal(res.user.user_id, login.user_id);
      assert.ok(res.session.roles.includes('stytch_user'));
      assert.deepEqual(res.session.attributes, { ip_address: '192.0.2.10', user_agent: 'conformance/1' });
      assert.deepEqual(res.session.custom_claims, {});
      assert.equal(res.session.expires_at, login.session.expires_at, 'no duration: expiry unchanged');
    });

    it('authenticate by JWT returns the session and its opaque token too', async () => {
      const login = await signIn(ctx.client);
      const res = ok(await ctx.client.sessions.authenticate({ session_jwt: login.session_jwt }), T.SessionsAuthenticateResponse, 'sessions.authenticate (JWT)');
      assert.equal(res.session.session_id, login.session.session_id);
      assert.equal(res.session_token, login.session_token);
      assert.equal(res.session_jwt.split('.').length, 3);
    });

    it('the session JWT has the claims the SDKs read', async () => {
      const login = await signIn(ctx.client, 60, { session_custom_claims: { tier: 'gold' } });
      const { header, payload } = decodeJwt(login.session_jwt);
      assert.equal(header.alg, 'RS256');
      assert.equal(header.typ, 'JWT');
      assert.match(header.kid, ids.jwk);
      assert.deepEqual(payload.aud, [ctx.projectA.project_id]);
      assert.equal(payload.iss, `stytch.com/${ctx.projectA.project_id}`);
      assert.equal(payload.sub, login.user_id);
      assert.equal(payload.nbf, payload.iat);
      assert.equal(payload.exp, payload.iat + 300);
      assert.equal(payload.tier, 'gold');
      const claim = payload['https://stytch.com/session'];
      assert.equal(claim.id, login.session.session_id);
      assert.equal(claim.expires_at, login.session.expires_at);
      T.assertShape(claim, {
        id: 'string', started_at: 'timestamp', last_accessed_at: 'timestamp', expires_at: 'timestamp',
        attributes: { ip_address: 'string', user_agent: 'string' },
        authentication_factors: T.arrayOf(T.AuthenticationFactor), roles: T.arrayOf('string'),
      }, 'session claim');
    });

    it('authenticate with session_duration_minutes extends (or shortens) the session', async () => {
      const login = await signIn(ctx.client, 30);
      const longer = ok(await ctx.client.sessions.authenticate({ session_token: login.session_token, session_duration_minutes: 600 }), T.SessionsAuthenticateResponse, 'sessions.authenticate (extend)');
      const left = Date.parse(longer.session.expires_at) - Date.now();
      assert.ok(left > 590 * 60e3 && left <= 601 * 60e3, `expires_at ${longer.session.expires_at} is now + 600 min`);
      // The SDK's local check reads the session expiry from the JWT
      // (dist/shared/sessions.js): the JWT of the answer claims the extension.
      const claimed = (jwt) => Date.parse(decodeJwt(jwt).payload['https://stytch.com/session'].expires_at);
      assert.equal(claimed(longer.session_jwt), Date.parse(longer.session.expires_at), 'the JWT claims the extended expiry');
      const shorter = ok(await ctx.client.sessions.authenticate({ session_jwt: longer.session_jwt, session_duration_minutes: 5 }), T.SessionsAuthenticateResponse, 'sessions.authenticate (shorten)');
      assert.ok(Date.parse(shorter.session.expires_at) - Date.now() <= 5 * 60e3 + 1000);
      assert.equal(claimed(shorter.session_jwt), Date.parse(shorter.session.expires_at), 'a shortened session gets a JWT that ends with it');
      assert.ok(decodeJwt(shorter.session_jwt).payload.exp * 1000 <= Date.parse(shorter.session.expires_at));
    });

    it('custom claims merge: a value sets, null deletes, objects merge; they ride in the JWT', async () => {
      const login = await signIn(ctx.client);
      const set = await ctx.client.sessions.authenticate({
        session_token: login.session_token, session_custom_claims: { role: 'admin', org: { id: 'o1', name: 'Acme' } },
      });
      assert.deepEqual(set.session.custom_claims, { role: 'admin', org: { id: 'o1', name: 'Acme' } });
      const merged = ok(await ctx.client.sessions.authenticate({
        session_token: login.session_token, session_custom_claims: { role: null, org: { name: 'Acme Inc', region: 'eu' } },
      }), T.SessionsAuthenticateResponse, 'sessions.authenticate (claims)');
      const want = { org: { id: 'o1', name: 'Acme Inc', region: 'eu' } };
      assert.deepEqual(merged.session.custom_claims, want);
      const { payload } = decodeJwt(merged.session_jwt);
      assert.deepEqual(payload.org, want.org);
      assert.equal(payload.role, undefined);
      // The SDK's local check hands the custom claims back.
      const local = await ctx.client.sessions.authenticateJwtLocal({ session_jwt: merged.session_jwt });
      assert.deepEqual(local.custom_claims, want);
    });

    it('revoke by session_id, session_token and session_jwt (SessionsRevokeResponse)', async () => {
      for (const by of ['session_id', 'session_token', 'session_jwt']) {
        const login = await signIn(ctx.client);
        const arg = by === 'session_id' ? login.session.session_id : login[by];
        ok(await ctx.client.sessions.revoke({ [by]: arg }), T.SessionsRevokeResponse, `sessions.revoke by ${by}`);
        await expectError(ctx.client.sessions.authenticate({ session_token: login.session_token }), 404, 'session_not_found', ctx.latch);
        const listed = await ctx.client.sessions.get({ user_id: login.user_id });
        assert.deepEqual(listed.sessions, [], `revoked by ${by}`);
      }
    });

    it('getJWKS returns the keys jose selects on (SessionsGetJWKSResponse)', async () => {
      const login = await signIn(ctx.client);
      const res = ok(await ctx.client.sessions.getJWKS({ project_id: ctx.projectA.project_id }), T.SessionsGetJWKSResponse, 'sessions.getJWKS');
      assert.ok(res.keys.length >= 1);
      for (const k of res.keys) {
        assert.equal(k.kty, 'RSA');
        assert.equal(k.use, 'sig');
        assert.deepEqual(k.key_ops, ['verify']);
        assert.equal(k.alg, 'RS256');
        assert.match(k.kid, ids.jwk);
        assert.ok(k.x5c.length >= 1);
      }
      assert.ok(res.keys.some((k) => k.kid === decodeJwt(login.session_jwt).header.kid), 'the JWT\'s kid is in the JWKS');
    });

    it('the JWKS answers without credentials (jose sends none)', async () => {
      const r = await fetch(`${ctx.latch.url}/v1/sessions/jwks/${ctx.projectA.project_id}`);
      assert.equal(r.status, 200);
      T.assertShape(await r.json(), T.SessionsGetJWKSResponse, 'JWKS without credentials');
    });

    it('POST /sessions/authenticate (no /v1, as in Stytch\'s session guide) answers like /v1', async () => {
      const login = await signIn(ctx.client);
      const auth = 'Basic ' + Buffer.from(`${ctx.projectA.project_id}:${ctx.projectA.secret}`).toString('base64');
      const r = await fetch(`${ctx.latch.url}/sessions/authenticate`, {
        method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ session_token: login.session_token }),
      });
      assert.equal(r.status, 200);
      const res = ok(await r.json(), T.SessionsAuthenticateResponse, 'POST /sessions/authenticate');
      assert.equal(res.session.session_id, login.session.session_id);
    });

    describe('errors', () => {
      it('authenticate: both, neither, unknown, unparsable', async () => {
        const login = await signIn(ctx.client);
        const a = (data) => ctx.client.sessions.authenticate(data);
        await expectError(a({ session_token: login.session_token, session_jwt: login.session_jwt }), 400, 'too_many_session_arguments', ctx.latch);
        await expectError(a({}), 400, 'no_session_arguments', ctx.latch);
        await expectError(a({ session_token: 'WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3Fxx' }), 404, 'session_not_found', ctx.latch);
        await expectError(a({ session_jwt: 'not.a.jwt' }), 400, 'unable_to_parse_session_jwt', ctx.latch);
        await expectError(a({ session_token: login.session_token, session_duration_minutes: 4 }), 400, 'invalid_session_duration_minutes', ctx.latch);
        await expectError(a({ session_token: login.session_token, session_duration_minutes: 527041 }), 400, 'invalid_session_duration_minutes', ctx.latch);
      });

      it('custom claims: reserved names, Stytch names and over 4 KB are refused', async () => {
        const login = await signIn(ctx.client);
        const a = (claims) => ctx.client.sessions.authenticate({ session_token: login.session_token, session_custom_claims: claims });
        // Open question 3: the custom-claims guide calls reserved names an error
        // (the SDK docstrings say "ignored"); Latch refuses them (CONTRACT-NOTES.md).
        await expectError(a({ sub: 'someone-else', kept: 'yes' }), 400, 'reserved_claims_in_custom_claims', ctx.latch);
        const res = ok(await a({ kept: 'yes' }), T.SessionsAuthenticateResponse, 'sessions.authenticate (custom claims)');
        assert.deepEqual(res.session.custom_claims, { kept: 'yes' });
        const { payload } = decodeJwt(res.session_jwt);
        assert.equal(payload.sub, login.user_id);
        assert.equal(payload.kept, 'yes');
        await expectError(a({ 'https://stytch.com/session': {} }), 400, 'stytch_claims_in_custom_claims', ctx.latch);
        await expectError(a({ blob: 'x'.repeat(5000) }), 400, 'custom_claims_too_large', ctx.latch);
      });

      it('authorization_check: Latch has no RBAC policy, so no check passes → 403 consumer_session_authorization_error', async () => {
        // types/lib/b2c/sessions.d.ts: "If the User is not authorized ... a 403 error will be thrown."
        const login = await signIn(ctx.client);
        const check = { resource_id: 'documents', action: 'delete' };
        await expectError(ctx.client.sessions.authenticate({ session_token: login.session_token, authorization_check: check }), 403, 'consumer_session_authorization_error', ctx.latch);
        // The SDK's local check needs GET /v1/rbac/policy, which Latch does not serve, so it fails closed...
        await expectError(ctx.client.sessions.authenticateJwtLocal({ session_jwt: login.session_jwt, authorization_check: check }), 404, 'route_not_found', ctx.latch);
        // ...and authenticateJwt falls back to Latch, which refuses.
        await expectError(ctx.client.sessions.authenticateJwt({ session_jwt: login.session_jwt, authorization_check: check }), 403, 'consumer_session_authorization_error', ctx.latch);
        // A bad session is still reported as such first.
        await expectError(ctx.client.sessions.authenticate({ session_token: 'x'.repeat(44), authorization_check: check }), 404, 'session_not_found', ctx.latch);
        // The refused call changed nothing.
        const after = await ctx.client.sessions.authenticate({ session_token: login.session_token });
        assert.equal(after.session.expires_at, login.session.expires_at);
      });

      it('revoke: none, several, unknown', async () => {
        const login = await signIn(ctx.client);
        await expectError(ctx.client.sessions.revoke({}), 400, 'no_session_revoke_arguments', ctx.latch);
        await expectError(ctx.client.sessions.revoke({ session_id: login.session.session_id, session_token: login.session_token }), 400, 'too_many_session_revoke_arguments', ctx.latch);
        await expectError(ctx.client.sessions.revoke({ session_id: 'session-test-00000000-0000-4000-8000-000000000000' }), 404, 'session_not_found', ctx.latch);
      });

      it('get for an unknown user → 404 user_not_found', async () => {
        await expectError(ctx.client.sessions.get({ user_id: 'user-test-00000000-0000-4000-8000-000000000000' }), 404, 'user_not_found', ctx.latch);
      });

      it('a session of another project is not found', async () => {
        const login = await signIn(ctx.client);
        await expectError(ctx.clientB.sessions.authenticate({ session_token: login.session_token }), 404, 'session_not_found', ctx.latch);
        await expectError(ctx.clientB.sessions.revoke({ session_id: login.session.session_id }), 404, 'session_not_found', ctx.latch);
      });

      it('getJWKS for an unknown project → 404 project_not_found', async () => {
        await expectError(ctx.client.sessions.getJWKS({ project_id: 'project-test-00000000-0000-4000-8000-000000000000' }), 404, 'project_not_found', ctx.latch);
      });
    });
  });
}
