// A throwaway self-signed certificate for Latch's TLS port: made with
// openssl when the machine has it, else with Go's own generator (Go is
// always here: the suite builds Latch). Chromium trusts exactly this key
// (--ignore-certificate-errors-spki-list), Node trusts it as a CA.
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function makeCert(dir, host) {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${host}`,
      '-addext', `subjectAltName=DNS:${host},IP:127.0.0.1`]);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    const { stdout } = await run('go', ['env', 'GOROOT']);
    await run('go', ['run', join(stdout.trim(), 'src/crypto/tls/generate_cert.go'), '--host', `${host},127.0.0.1`, '--ecdsa-curve', 'P256'], { cwd: dir });
  }
  const pem = await readFile(cert, 'utf8');
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return { cert, key, pem, spkiHash: createHash('sha256').update(spki).digest('base64') };
}
