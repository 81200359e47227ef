// Starts a real Latch for the suite: the binary built from this checkout,
// `latch serve` on a free loopback port over a fresh SQLite file, email to
// the SMTP receiver and SMS/WhatsApp to the Twilio double. Projects are made
// and keys rotated with the management commands, as an operator would.
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startSMTP, poll } from './smtp.js';
import { startTwilio } from './twilio.js';

const run = promisify(execFile);
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const twilioConfig = {
  accountSID: 'AC' + 'c0ffee'.repeat(5) + 'ab',
  authToken: 'conformance-twilio-token',
  smsFrom: '+15005550006',
  whatsappFrom: '+14155238886',
};

/**
 * opts.tls = {cert, key} (PEM file paths) serves HTTPS (`serve --tls-cert
 * --tls-key`), as the browser suite needs; opts.serveArgs adds flags.
 */
export async function startLatch(opts = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'latch-conformance-'));
  const bin = join(dir, 'latch');
  const routesBin = join(dir, 'routes');
  // One build of each; Go's build cache makes repeated runs quick.
  await Promise.all([
    run('go', ['build', '-o', bin, './cmd/latch'], { cwd: repoRoot }),
    run('go', ['build', '-o', routesBin, './conformance/routes'], { cwd: repoRoot }),
  ]);

  const database = `sqlite:${join(dir, 'latch.db')}`;
  const masterKeyFile = join(dir, 'master.key');
  await writeFile(masterKeyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  const common = ['--database', database, '--master-key-file', masterKeyFile];

  const mail = await startSMTP();
  const sms = await startTwilio(twilioConfig);

  const proc = spawn(bin, [
    'serve', '--addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', ...common, '--log-format', 'json',
    '--smtp', `smtp://127.0.0.1:${mail.port}`, '--email-from', 'Latch <login@latch.test>',
    '--twilio-url', sms.url, '--twilio-account-sid', twilioConfig.accountSID,
    '--twilio-auth-token', twilioConfig.authToken,
    '--twilio-from', twilioConfig.smsFrom, '--twilio-whatsapp-from', twilioConfig.whatsappFrom,
    ...(opts.tls ? ['--tls-cert', opts.tls.cert, '--tls-key', opts.tls.key] : []),
    ...(opts.serveArgs || []),
  ], { stdio: ['ignore', 'ignore', 'pipe'] });

  // The server logs one JSON line per request, naming the router pattern
  // that matched: that is the record the route-coverage check reads.
  const requests = [];
  const logTail = [];
  let addr = null;
  let metricsAddr = null;
  let exited = null;
  let partial = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => {
    partial += chunk;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      logTail.push(line);
      if (logTail.length > 200) logTail.shift();
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        continue;
      }
      if (rec.msg === 'latch listening') {
        addr = rec.addr;
        metricsAddr = rec.metrics_addr;
      }
      if (rec.msg === 'request') requests.push(rec);
    }
  });
  proc.on('exit', (code, signal) => (exited = { code, signal }));
  await poll(() => {
    if (exited) throw new Error(`latch serve exited (${JSON.stringify(exited)}):\n${logTail.join('\n')}`);
    return addr;
  }, 'latch serve to listen', 20000);
  const url = `${opts.tls ? 'https' : 'http'}://${addr}`;

  const cli = async (...args) => (await run(bin, args, { cwd: dir })).stdout;

  return {
    url,
    metricsUrl: `http://${metricsAddr}`,
    bin,
    dir,
    database,
    mail,
    sms,
    requests,
    logTail,
    /** Runs `latch ARGS…` in the run's directory; returns its stdout. */
    cli,
    /** Creates a test project; redirectURLs [] leaves it without any; extra: more flags (--sdk-origin …). */
    async createProject(name, redirectURLs = ['https://app.example/authenticate'], extra = []) {
      const args = ['project', 'create', ...common, '--name', name, '--json', ...extra];
      for (const u of redirectURLs) args.push('--redirect-url', u);
      return JSON.parse(await cli(...args));
    },
    /** `latch keys rotate`; extra: ['--now'] or ['--lead', '3s'] (the default lead is 10 minutes). */
    async rotateKeys(projectID, ...extra) {
      return cli('keys', 'rotate', '--project', projectID, ...extra, ...common);
    },
    /** Every pattern the router serves, from the router itself. */
    async routes() {
      const { stdout } = await run(routesBin, []);
      return stdout.split('\n').map((s) => s.trim()).filter(Boolean);
    },
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        await poll(() => exited, 'latch serve to stop', 10000).catch(() => proc.kill('SIGKILL'));
      }
      await mail.close();
      await sms.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
