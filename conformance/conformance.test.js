// Latch driven by Stytch's official Node SDK (stytch@14.2.0, exact).
//
// One Latch serves the whole run, so the last test can compare the routes
// the router serves with the routes this suite exercised. Tests run in the
// order they are declared; each suite builds its own users.
import { after, before } from 'node:test';
import stytch from 'stytch';
import { startLatch } from './lib/latch.js';
import users from './suite/users.js';
import magicLinks from './suite/magic_links.js';
import otps from './suite/otps.js';
import totps from './suite/totps.js';
import passwords from './suite/passwords.js';
import sessions from './suite/sessions.js';
import jwts from './suite/jwts.js';
import errors from './suite/errors.js';
import sandbox from './suite/sandbox.js';
import operations from './suite/operations.js';
import routes from './suite/routes.js';

/** Filled by before(); suites read it inside their tests. */
const ctx = {};

ctx.clientFor = (project) =>
  new stytch.Client({ project_id: project.project_id, secret: project.secret, env: `${ctx.latch.url}/` });

before(async () => {
  ctx.latch = await startLatch();
  // Project A is the app under test; B is another tenant of the same
  // Latch; C has no redirect URL at all.
  ctx.projectA = await ctx.latch.createProject('Conformance A');
  ctx.projectB = await ctx.latch.createProject('Conformance B');
  ctx.projectC = await ctx.latch.createProject('Conformance C', []);
  ctx.client = ctx.clientFor(ctx.projectA);
  ctx.clientB = ctx.clientFor(ctx.projectB);
  ctx.clientC = ctx.clientFor(ctx.projectC);
});

after(async () => {
  await ctx.latch?.stop();
});

users(ctx);
magicLinks(ctx);
otps(ctx);
totps(ctx);
passwords(ctx);
sessions(ctx);
jwts(ctx);
errors(ctx);
sandbox(ctx);
operations(ctx);
routes(ctx); // last: it reads what every test before it exercised
