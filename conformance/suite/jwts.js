// sessions.authenticateJwt and sessions.authenticateJwtLocal: Latch's JWTs
// verified by the SDK itself, with jose's remote JWKS set fetching
// /v1/sessions/jwks/{project_id} (dist/b2c/client.js, dist/shared/sessions.js).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import stytch from 'stytch';
import * as T from '../lib/shapes.js';
import { decodeJwt, expectError, ok } from '../lib/check.js';
import { poll } from '../lib/smtp.js';
import { signIn } from './sessions.js';

export default function jwts(ctx) {
  const remoteAuthenticates = () => ctx.latch.requests.filter((r) => r.route === 'POST /v1/sessions/authenticate').length;
  const jwksFetches = () => ctx.latch.requests.filter((r) => r.route === 'GET /v1/sessions/jwks/{project_id}' && r.status === 200).length;

  /** Asserts what authenticateJwtLocal made of a JWT against the session it came from. */
  function sameSession(local, login) {
    T.assertShape(local, T.LocalSession, 'authenticateJwtLocal');
    assert.equal(local.session_id, login.session.session_id);
    assert.equal(local.user_id, login.user_id);
    assert.equal(Date.parse(local.expires_at), Date.parse(login.session.expires_at));
    assert.equal(local.started_at, login.session.started_at);
    assert.deepEqual(local.roles, login.session.roles);
    assert.deepEqual(local.authentication_factors.map((f) => `${f.type}/${f.delivery_method}`),
      login.session.authentication_factors.map((f) => `${f.type}/${f.delivery_method}`));
  }

  describe('session JWTs verified by the SDK', () => {
    it('authenticateJwtLocal verifies through the SDK\'s own JWKS fetch, with no API call', async () => {
      const client = ctx.clientFor(ctx.projectA); // a fresh JWKS cache
      const login = await signIn(client, 60, { session_custom_claims: { plan: 'team' } });
      const before = remoteAuthenticates();
      const jwksBefore = jwksFetches();
      const local = await client.sessions.authenticateJwtLocal({ session_jwt: login.session_jwt });
      sameSession(local, login);
      assert.deepEqual(local.custom_claims, { plan: 'team' });
      assert.deepEqual(local.attributes, { ip_address: '', user_agent: '' });
      // iat is present and now: a fresh JWT passes the SDK's max-age check.
      await client.sessions.authenticateJwtLocal({ session_jwt: login.session_jwt, max_token_age_seconds: 60 });
      assert.equal(remoteAuthenticates(), before, 'no call to /v1/sessions/authenticate');
      await poll(() => jwksFetches() > jwksBefore, 'the SDK to fetch the JWKS', 2000);
    });

    it('authenticateJwt answers locally while the JWT is fresh, and from Latch when told to', async () => {
      const login = await signIn(ctx.client);
      const before = remoteAuthenticates();
      const res = await ctx.client.sessions.authenticateJwt({ session_jwt: login.session_jwt });
      assert.equal(res.session_jwt, login.session_jwt);
      sameSession(res.session, login);
      assert.equal(remoteAuthenticates(), before, 'verified locally');

      const remote = ok(await ctx.client.sessions.authenticateJwt({ session_jwt: login.session_jwt, max_token_age_seconds: 0 }), T.SessionsAuthenticateResponse, 'authenticateJwt (remote)');
      assert.equal(remote.session.session_id, login.session.session_id);
      assert.equal(remoteAuthenticates(), before + 1, 'verified by Latch');
    });

    it('a revoked session: the JWT still verifies locally until exp; Latch refuses it', async () => {
      const login = await signIn(ctx.client);
      await ctx.client.sessions.revoke({ session_jwt: login.session_jwt });
      sameSession(await ctx.client.sessions.authenticateJwtLocal({ session_jwt: login.session_jwt }), login);
      await expectError(ctx.client.sessions.authenticateJwt({ session_jwt: login.session_jwt, max_token_age_seconds: 0 }), 404, 'session_not_found', ctx.latch);
    });

    it('another project\'s client refuses the JWT, locally and remotely', async () => {
      const login = await signIn(ctx.client);
      await assert.rejects(ctx.clientB.sessions.authenticateJwtLocal({ session_jwt: login.session_jwt }), (err) => {
        assert.ok(err instanceof stytch.ClientError, `${err}`);
        assert.equal(err.code, 'jwt_invalid');
        return true;
      });
      // authenticateJwt falls back to Latch with project B's credentials.
      await expectError(ctx.clientB.sessions.authenticateJwt({ session_jwt: login.session_jwt }), 404, 'session_not_found', ctx.latch);
    });

    it('a tampered JWT is refused locally', async () => {
      const login = await signIn(ctx.client);
      const [h, p, s] = login.session_jwt.split('.');
      const claims = JSON.parse(Buffer.from(p, 'base64url'));
      claims.sub = 'user-test-00000000-0000-4000-8000-000000000000';
      const forged = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
      await assert.rejects(ctx.client.sessions.authenticateJwtLocal({ session_jwt: forged }), stytch.ClientError);
    });

    it('after a key rotation, old and new JWTs verify through the SDK; other projects still refuse them', async (t) => {
      const project = await ctx.latch.createProject('Conformance rotation');
      const client = ctx.clientFor(project);
      const login = await signIn(client);
      const oldKid = decodeJwt(login.session_jwt).header.kid;
      sameSession(await client.sessions.authenticateJwtLocal({ session_jwt: login.session_jwt }), login); // caches the JWKS

      await ctx.latch.rotateKeys(project.project_id);
      // Servers see a rotation within seconds: poll for a JWT with a new kid.
      let n = 0;
      const fresh = await poll(async () => {
        const res = await client.sessions.authenticate({ session_token: login.session_token, session_custom_claims: { n: ++n } });
        return decodeJwt(res.session_jwt).header.kid !== oldKid && res;
      }, 'a JWT signed by the new key', 10000);
      const newKid = decodeJwt(fresh.session_jwt).header.kid;

      const jwks = ok(await client.sessions.getJWKS({ project_id: project.project_id }), T.SessionsGetJWKSResponse, 'sessions.getJWKS');
      assert.deepEqual(new Set(jwks.keys.map((k) => k.kid)), new Set([oldKid, newKid]), 'both keys are served during the grace period');

      // The client that cached the old set still verifies old JWTs locally...
      sameSession(await client.sessions.authenticateJwtLocal({ session_jwt: login.session_jwt }), login);
      // ...and a new JWT through authenticateJwt: locally once jose refetches, else via Latch.
      const viaSDK = await client.sessions.authenticateJwt({ session_jwt: fresh.session_jwt });
      assert.equal(viaSDK.session.session_id, login.session.session_id);
      // jose refetches a set with an unknown kid once its 30 s cooldown is
      // over; move its clock past it rather than wait.
      const realNow = Date.now.bind(Date);
      t.mock.method(Date, 'now', () => realNow() + 31_000);
      const local = await client.sessions.authenticateJwtLocal({ session_jwt: fresh.session_jwt });
      assert.equal(local.session_id, login.session.session_id);
      assert.deepEqual(local.custom_claims, { n });
      t.mock.restoreAll();

      // A client starting now fetches both keys and verifies both JWTs.
      const newcomer = ctx.clientFor(project);
      assert.equal((await newcomer.sessions.authenticateJwtLocal({ session_jwt: login.session_jwt })).session_id, login.session.session_id);
      assert.equal((await newcomer.sessions.authenticateJwtLocal({ session_jwt: fresh.session_jwt })).session_id, login.session.session_id);

      // Other projects refuse both.
      for (const jwt of [login.session_jwt, fresh.session_jwt]) {
        await assert.rejects(ctx.client.sessions.authenticateJwtLocal({ session_jwt: jwt }), stytch.ClientError);
        await expectError(ctx.client.sessions.authenticateJwt({ session_jwt: jwt }), 404, 'session_not_found', ctx.latch);
      }
    });
  });
}
