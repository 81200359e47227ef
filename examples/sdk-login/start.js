// `npm start`: Latch (HTTPS, a throwaway certificate, a SQLite file, a test
// project that authorizes this app's origin) and the example app, together.
// State lives in .latch/ (LATCH_EXAMPLE_DIR); delete it to start afresh.
//
// Environment (all optional):
//   LATCH_HOST   the name the page's SDK calls (default localhost)
//   LATCH_PORT   Latch's HTTPS port (default 443: the SDK always calls port
//                443 of customBaseUrl's host, whatever port you write)
//   APP_PORT     the app's port (default 3000)
//   LATCH_BIN    a latch binary (default: `latch` on the PATH, else built
//                from this repository with Go)
//   LATCH_SMTP, LATCH_EMAIL_FROM, LATCH_TWILIO_…: passed on to latch serve;
//                without them the links and codes wait in the dev outbox.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { outboxReader, startApp } from './app.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const state = resolve(process.env.LATCH_EXAMPLE_DIR || join(here, '.latch'));
const host = process.env.LATCH_HOST || 'localhost';
const latchPort = Number(process.env.LATCH_PORT || 443);
const appPort = Number(process.env.APP_PORT || 3000);
const appOrigin = `http://localhost:${appPort}`;
const stytchJS = process.env.STYTCH_JS || join(here, 'node_modules/@stytch/vanilla-js/dist/iife/index.js');

async function latchBinary() {
  if (process.env.LATCH_BIN) return process.env.LATCH_BIN;
  try {
    await run('latch', ['--help']);
    return 'latch';
  } catch (err) {
    if (err.code !== 'ENOENT') return 'latch';
  }
  const bin = join(state, 'latch');
  console.log('Building latch from this repository (go build ./cmd/latch)…');
  await run('go', ['build', '-o', bin, './cmd/latch'], { cwd: repoRoot });
  return bin;
}

async function main() {
  if (!existsSync(stytchJS)) throw new Error(`no ${stytchJS}: run npm install first`);
  await mkdir(state, { recursive: true });
  const bin = await latchBinary();
  const db = ['--database', `sqlite:${join(state, 'latch.db')}`, '--master-key-file', join(state, 'master.key')];
  if (!existsSync(join(state, 'master.key'))) {
    await writeFile(join(state, 'master.key'), randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  }
  const cert = join(state, 'cert.pem');
  const key = join(state, 'key.pem');
  if (!existsSync(cert)) {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '365', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host},IP:127.0.0.1`]);
  }
  const projectFile = join(state, 'project.json');
  if (!existsSync(projectFile)) {
    const { stdout } = await run(bin, ['project', 'create', ...db, '--name', 'SDK login example', '--json',
      '--sdk-origin', appOrigin, '--redirect-url', `${appOrigin}/authenticate`]);
    await writeFile(projectFile, stdout, { mode: 0o600 });
  }
  const project = JSON.parse(await readFile(projectFile, 'utf8'));

  const log = openSync(join(state, 'latch.log'), 'a');
  const latch = spawn(bin, ['serve', '--addr', `127.0.0.1:${latchPort}`, '--metrics-addr', '', ...db,
    '--tls-cert', cert, '--tls-key', key], { stdio: ['ignore', log, log] });
  let exited = null;
  latch.on('exit', (code) => (exited = code));
  const stop = () => latch.kill('SIGTERM');
  process.on('SIGINT', () => { stop(); process.exit(130); });
  process.on('SIGTERM', () => { stop(); process.exit(143); });
  process.on('exit', stop);

  const ca = await readFile(cert, 'utf8');
  for (let i = 0; ; i++) {
    if (exited !== null) {
      const tail = (await readFile(join(state, 'latch.log'), 'utf8')).split('\n').slice(-5).join('\n');
      if (/permission denied/i.test(tail) && latchPort < 1024) {
        throw new Error(`latch serve may not listen on port ${latchPort} as this user.\n` +
          `The SDK calls port 443 of its customBaseUrl's host, so Latch must answer there: run with sudo, ` +
          `or on Linux allow it once with: sudo sysctl -w net.ipv4.ip_unprivileged_port_start=443\n${tail}`);
      }
      throw new Error(`latch serve exited (${exited}):\n${tail}`);
    }
    const up = await new Promise((ok) => https.get({ host: '127.0.0.1', port: latchPort, path: '/healthz', ca, servername: host }, (r) => { r.resume(); ok(r.statusCode === 200); }).on('error', () => ok(false)));
    if (up) break;
    if (i > 200) throw new Error('latch serve did not answer /healthz');
    await new Promise((r) => setTimeout(r, 50));
  }

  await startApp({
    port: appPort,
    project,
    sdkBaseURL: `https://${host}`,
    latch: { port: latchPort, host, ca },
    outbox: process.env.LATCH_SMTP ? null : outboxReader(bin, db),
    stytchJS,
  });
  console.log(`Latch:   https://${host}${latchPort === 443 ? '' : ` (port ${latchPort})`}   log: ${join(state, 'latch.log')}`);
  console.log(`The app: ${appOrigin}   (project ${project.project_id})`);
  if (host === 'localhost') {
    console.log(`Your browser must trust Latch's self-signed certificate (${cert}): open https://localhost/healthz once and accept it.`);
  }
  console.log('example ready');
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
