// The coverage check: every pattern the router serves (conformance/routes
// builds the real router and lists it) must have been answered with a 2xx
// during this run. Latch logs the matched pattern of every request; a route
// added without a conformance test fails here, by name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { poll } from '../lib/smtp.js';

// A run narrowed to some tests cannot cover every route.
const filtered = process.execArgv.some((a) => /^--test-(name-pattern|skip-pattern|only)/.test(a));

export default function routes(ctx) {
  describe('route coverage', () => {
    it('every route Latch serves was exercised successfully by this suite', { skip: filtered && 'a filtered run' }, async () => {
      // The frontend SDK's /sdk/v1 routes are the browser suite's to cover
      // (@stytch/vanilla-js in Chromium), not the backend SDK's.
      const served = (await ctx.latch.routes()).filter((route) => !route.split(' ').pop().startsWith('/sdk/v1/'));
      assert.ok(served.length > 20, `the router lists ${served.length} routes`);
      const passed = () => new Set(ctx.latch.requests.filter((r) => r.status >= 200 && r.status < 300).map((r) => r.route));
      const missing = () => served.filter((route) => !passed().has(route));
      // The access log line of a request is written just after its response.
      await poll(() => missing().length === 0, 'the access log', 2000).catch(() => {});
      const hit = new Set(ctx.latch.requests.map((r) => r.route));
      const detail = missing().map((route) => `  ${route}${hit.has(route) ? '   (only error responses)' : ''}`).join('\n');
      assert.deepEqual(missing(), [], `routes without a passing conformance test:\n${detail}\nAdd a test in conformance/suite/ that drives them through the SDK.`);
    });
  });
}
