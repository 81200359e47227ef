// Failures every SDK method shares: credentials, the routes Latch does not
// serve, and what the SDK does with Latch's envelope (dist/shared/index.js,
// dist/shared/errors.js).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import stytch from 'stytch';
import { email, expectError, ids } from '../lib/check.js';

export default function errors(ctx) {
  describe('errors every method shares', () => {
    it('a wrong secret, an unknown project or no credentials → 401 unauthorized_credentials', async () => {
      const wrongSecret = ctx.clientFor({ project_id: ctx.projectA.project_id, secret: ctx.projectB.secret });
      const unknown = ctx.clientFor({ project_id: 'project-test-00000000-0000-4000-8000-000000000000', secret: ctx.projectA.secret });
      for (const c of [wrongSecret, unknown]) {
        await expectError(c.users.create({ email: email('nocreds') }), 401, 'unauthorized_credentials', ctx.latch);
        await expectError(c.users.search({}), 401, 'unauthorized_credentials', ctx.latch);
        await expectError(c.magicLinks.email.loginOrCreate({ email: email('nocreds') }), 401, 'unauthorized_credentials', ctx.latch);
        await expectError(c.otps.authenticate({ method_id: 'x', code: '123456' }), 401, 'unauthorized_credentials', ctx.latch);
        await expectError(c.sessions.authenticate({ session_token: 'x' }), 401, 'unauthorized_credentials', ctx.latch);
      }
      const r = await fetch(`${ctx.latch.url}/v1/users/search`, { method: 'POST', body: '{}' });
      assert.equal(r.status, 401);
      assert.equal((await r.json()).error_type, 'unauthorized_credentials');
    });

    it('SDK methods for endpoints Latch does not serve fail as StytchError 404 route_not_found', async () => {
      const c = ctx.client;
      await expectError(c.users.exchangePrimaryFactor({ user_id: 'user-test-00000000-0000-4000-8000-000000000000', email_address: email('x') }), 404, 'route_not_found', ctx.latch);
      await expectError(c.sessions.migrate({ session_token: 'external' }), 404, 'route_not_found', ctx.latch);
    });

    it('a method the route does not take → 405 method_not_allowed, in the envelope', async () => {
      const auth = 'Basic ' + Buffer.from(`${ctx.projectA.project_id}:${ctx.projectA.secret}`).toString('base64');
      const r = await fetch(`${ctx.latch.url}/v1/magic_links/authenticate`, { method: 'GET', headers: { Authorization: auth } });
      assert.equal(r.status, 405);
      const body = await r.json();
      assert.equal(body.error_type, 'method_not_allowed');
      assert.equal(body.status_code, 405);
      assert.match(body.request_id, ids.request);
    });

    it('a field of the wrong type → 400 bad_request; malformed JSON too', async () => {
      // JavaScript callers are not held to the .d.ts types.
      await expectError(ctx.client.users.create({ email: 42 }), 400, 'bad_request', ctx.latch);
      await expectError(ctx.client.sessions.authenticate({ session_token: 'x', session_duration_minutes: 'ten' }), 400, 'bad_request', ctx.latch);
      const auth = 'Basic ' + Buffer.from(`${ctx.projectA.project_id}:${ctx.projectA.secret}`).toString('base64');
      const r = await fetch(`${ctx.latch.url}/v1/users`, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: '{"email":' });
      assert.equal(r.status, 400);
      assert.equal((await r.json()).error_type, 'bad_request');
    });

    it('a body over 1 MiB → 413 request_too_large, still a StytchError', async () => {
      await expectError(ctx.client.users.create({ email: email('big'), trusted_metadata: { big: 'x'.repeat(2 << 20) } }), 413, 'request_too_large', ctx.latch);
    });

    it('every Latch error body parses into every StytchError field', async () => {
      let err;
      try {
        await ctx.client.users.get({ user_id: 'user-test-00000000-0000-4000-8000-000000000000' });
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof stytch.StytchError);
      const body = JSON.parse(err.message); // StytchError's message is the body it was given
      assert.deepEqual(Object.keys(body).sort(), ['error_message', 'error_type', 'error_url', 'request_id', 'status_code']);
      assert.equal(err.error_url, 'https://stytch.com/docs/api/errors/404#user_not_found');
    });
  });
}
