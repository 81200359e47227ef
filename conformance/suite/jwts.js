// sessions.authenticateJwt and sessions.authenticateJwtLocal: Latch's JWTs
// verified by the SDK itself, with jose's remote JWKS set fetching
// /v1/sessions/jwks/{project_id} (dist/b2c/client.js, dist/shared/sessions.js).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import stytch from 'stytch';
import * as T from '../lib/shapes.js';
import { decodeJwt, email, expectError, ok, otpCode, phone } from '../lib/check.js';
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

    it('after an emergency key rotation (--now), old and new JWTs verify through the SDK; other projects still refuse them', async (t) => {
      const project = await ctx.latch.createProject('Conformance rotation');
      const client = ctx.clientFor(project);
      const login = await signIn(client);
      const oldKid = decodeJwt(login.session_jwt).header.kid;
      sameSession(await client.sessions.authenticateJwtLocal({ session_jwt: login.session_jwt }), login); // caches the JWKS

      // --now: the emergency rotation, which signs with the new key at
      // once (every node within seconds), before verifiers know it.
      await ctx.latch.rotateKeys(project.project_id, '--now');
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

    it('every route that returns a JWT returns the one minted for its answer: authenticateJwtLocal agrees with the answer\'s session', async () => {
      const client = ctx.clientFor(ctx.projectA);
      const tel = phone();
      const addr = email('truth');
      const user = await client.users.create({ email: addr, phone_number: tel });
      const answers = [];
      const { token } = await client.magicLinks.create({ user_id: user.user_id });
      let last = await client.magicLinks.authenticate({ token, session_duration_minutes: 30, session_custom_claims: { plan: 'team' } });
      answers.push(['magicLinks.authenticate', last]);
      await client.otps.sms.send({ phone_number: tel });
      const code = otpCode((await ctx.latch.sms.waitFor('sms', tel)).body);
      last = await client.otps.authenticate({ method_id: user.phone_id, code, session_token: last.session_token, session_custom_claims: { step: 'sms' } });
      answers.push(['otps.authenticate (a second factor)', last]);
      const steps = [
        ['sessions.authenticate by token', { session_token: last.session_token }],
        ['sessions.authenticate by JWT', () => ({ session_jwt: last.session_jwt })],
        ['sessions.authenticate extending', { session_token: last.session_token, session_duration_minutes: 600 }],
        ['sessions.authenticate by JWT, shortening', () => ({ session_jwt: last.session_jwt, session_duration_minutes: 45 })],
        ['sessions.authenticate with claims', { session_token: last.session_token, session_custom_claims: { plan: null, seat: 3 } }],
        ['sessions.authenticate by JWT with claims and a duration', () => ({ session_jwt: last.session_jwt, session_duration_minutes: 120, session_custom_claims: { seat: 4 } })],
      ];
      for (const [name, body] of steps) {
        last = await client.sessions.authenticate(typeof body === 'function' ? body() : body);
        answers.push([name, last]);
      }
      for (const [name, res] of answers) {
        const local = await client.sessions.authenticateJwtLocal({ session_jwt: res.session_jwt });
        const s = res.session;
        for (const f of ['session_id', 'user_id', 'started_at', 'last_accessed_at', 'expires_at']) {
          assert.equal(Date.parse(local[f]) || local[f], Date.parse(s[f]) || s[f], `${name}: ${f} of the JWT vs the answer`);
        }
        assert.deepEqual(local.attributes, s.attributes, `${name}: attributes`);
        assert.deepEqual(local.roles, s.roles, `${name}: roles`);
        assert.deepEqual(local.custom_claims, s.custom_claims, `${name}: custom_claims`);
        assert.deepEqual(local.authentication_factors, s.authentication_factors, `${name}: factors`);
        const { payload } = decodeJwt(res.session_jwt);
        assert.equal(payload.iat * 1000, Date.parse(s.last_accessed_at), `${name}: iat is the answer's time`);
        assert.equal(payload.exp, Math.min(payload.iat + 300, Date.parse(s.expires_at) / 1000), `${name}: exp`);
      }
      assert.deepEqual(answers.at(-1)[1].session.custom_claims, { step: 'sms', seat: 4 });
    });

    it('authenticateJwt with max_token_age_seconds: 1, 2 s after login, goes to Latch once; the JWT it gets back verifies locally', async () => {
      const client = ctx.clientFor(ctx.projectA);
      const login = await signIn(client);
      const iat = decodeJwt(login.session_jwt).payload.iat;
      // Latch runs on the real clock, so this test lets 2 s pass: it waits
      // until just after the second iat + 2 begins, so that both calls
      // below fall in one second (the SDK compares fractional seconds).
      await new Promise((r) => setTimeout(r, Math.max(0, (iat + 2) * 1000 + 20 - Date.now())));
      const before = remoteAuthenticates();
      const first = await client.sessions.authenticateJwt({ session_jwt: login.session_jwt, max_token_age_seconds: 1 });
      assert.equal(remoteAuthenticates(), before + 1, 'a JWT 2 s old goes to Latch');
      assert.notEqual(first.session_jwt, login.session_jwt, 'Latch answers with a new JWT');
      assert.ok(decodeJwt(first.session_jwt).payload.iat >= iat + 2, 'issued now');
      const second = await client.sessions.authenticateJwt({ session_jwt: first.session_jwt, max_token_age_seconds: 1 });
      assert.equal(remoteAuthenticates(), before + 1, 'the JWT Latch returned verified locally');
      assert.equal(second.session.session_id, login.session.session_id);
      await client.sessions.authenticateJwtLocal({ session_jwt: first.session_jwt, max_token_age_seconds: 1 });
    });

    it('a rotation with a lead is invisible to verifiers: one that fetched the JWKS before it, and one that fetched it during the lead, verify every JWT', async (t) => {
      const project = await ctx.latch.createProject('Conformance rotation with a lead');
      const before = ctx.clientFor(project);
      const login = await signIn(before);
      const oldKid = decodeJwt(login.session_jwt).header.kid;
      const fetches = () => ctx.latch.requests.filter((r) => r.route === 'GET /v1/sessions/jwks/{project_id}' && r.status === 200).length;
      await before.sessions.authenticateJwtLocal({ session_jwt: login.session_jwt }); // caches the JWKS

      // The production lead is 10 minutes (jose's cacheMaxAge); the test's
      // server is given 3 s so that the switch comes within the test.
      await ctx.latch.rotateKeys(project.project_id, '--lead', '3s');
      // The new key is published (each node reads keys every 2 s) while
      // the old one still signs; a verifier fetching now holds both.
      const newKid = await poll(async () => {
        const { keys } = await before.sessions.getJWKS({ project_id: project.project_id });
        return keys.length === 2 && keys.map((k) => k.kid).find((k) => k !== oldKid);
      }, 'the new key in the JWKS', 10000);
      const during = ctx.clientFor(project);
      let n = 0;
      const jwts = [];
      const fresh = await poll(async () => {
        const res = await before.sessions.authenticate({ session_token: login.session_token, session_custom_claims: { n: ++n } });
        const kid = decodeJwt(res.session_jwt).header.kid;
        jwts.push(res.session_jwt);
        if (kid === oldKid) {
          // During the lead: the JWT verifies for both, with no refetch.
          const f = fetches();
          await before.sessions.authenticateJwtLocal({ session_jwt: res.session_jwt });
          assert.equal(fetches(), f, 'the verifier that fetched before the rotation refetched nothing during the lead');
        }
        return kid === newKid && res;
      }, 'a JWT signed by the new key after the lead', 10000);
      assert.ok(jwts.length > 1, 'JWTs were minted with the old key during the lead');

      // The verifier that fetched during the lead knows every kid: it
      // verifies old and new JWTs with one fetch and no clock change.
      const f0 = fetches();
      for (const jwt of [login.session_jwt, ...jwts]) await during.sessions.authenticateJwtLocal({ session_jwt: jwt });
      assert.ok(fetches() - f0 <= 1, 'one JWKS fetch for the verifier that fetched during the lead');

      // The verifier that fetched before the rotation: in production the
      // switch comes 10 minutes (the default lead) after its fetch, when
      // its cached set is stale and jose fetches it again before looking
      // for any kid. Its clock moves by that lead: a JWT of the old key
      // makes it refetch for staleness, not for an unknown kid...
      const realNow = Date.now.bind(Date);
      t.mock.method(Date, 'now', () => realNow() + 10 * 60_000 + 1000);
      const f1 = fetches();
      await before.sessions.authenticateJwtLocal({ session_jwt: jwts[0], current_date: new Date(realNow()) });
      await poll(() => fetches() === f1 + 1, 'the stale JWKS to be fetched again', 2000);
      // ...and the new key's JWT then verifies with no further fetch.
      const local = await before.sessions.authenticateJwtLocal({ session_jwt: fresh.session_jwt, current_date: new Date(realNow()) });
      assert.equal(local.session_id, login.session.session_id);
      assert.equal(fetches(), f1 + 1, 'no fetch for an unknown kid');
      t.mock.restoreAll();
    });
  });
}
