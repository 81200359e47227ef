// A minimal SMTP receiver on loopback: enough of RFC 5321 for Latch's mailer
// (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no STARTTLS, no AUTH), keeping
// every message it is given, with the text/plain part decoded. refuse(to)
// makes it answer RCPT for that address with a permanent 550, as a server
// that does not know the mailbox would, until accept(to).
import net from 'node:net';

export async function startSMTP() {
  const messages = [];
  const refused = new Set();
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    let inData = false;
    let envelope = { from: '', to: [] };
    const reply = (line) => socket.write(line + '\r\n');
    reply('220 latch-conformance ESMTP');
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      buf += chunk;
      for (;;) {
        if (inData) {
          const s = '\r\n' + buf; // the terminator may open an empty body
          const end = s.indexOf('\r\n.\r\n');
          if (end < 0) return;
          const raw = s.slice(2, end + 2).replace(/^\.\./gm, '.');
          buf = s.slice(end + 5);
          inData = false;
          messages.push({ ...parseMessage(raw), envelopeFrom: envelope.from, envelopeTo: envelope.to });
          envelope = { from: '', to: [] };
          reply('250 2.0.0 queued');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.split(' ')[0].toUpperCase();
        switch (verb) {
          case 'EHLO':
            reply('250-latch-conformance');
            reply('250-8BITMIME');
            reply('250 SMTPUTF8');
            break;
          case 'HELO':
            reply('250 latch-conformance');
            break;
          case 'MAIL':
            envelope = { from: addressIn(line), to: [] };
            reply('250 2.1.0 OK');
            break;
          case 'RCPT': {
            const to = addressIn(line);
            if (refused.has(to)) {
              reply('550 5.1.1 No such mailbox here');
              break;
            }
            envelope.to.push(to);
            reply('250 2.1.5 OK');
            break;
          }
          case 'DATA':
            inData = true;
            reply('354 End data with <CR><LF>.<CR><LF>');
            break;
          case 'RSET':
            envelope = { from: '', to: [] };
            reply('250 2.0.0 OK');
            break;
          case 'NOOP':
            reply('250 2.0.0 OK');
            break;
          case 'QUIT':
            reply('221 2.0.0 Bye');
            socket.end();
            return;
          default:
            reply('502 5.5.2 Command not implemented');
        }
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    messages,
    /** Waits for the n-th (1-based) message to `to` and returns it. */
    waitFor(to, n = 1, timeoutMs = 10000) {
      return poll(() => messages.filter((m) => m.envelopeTo.includes(to.toLowerCase()))[n - 1], `email #${n} to ${to}`, timeoutMs);
    },
    /** From now on, RCPT to `to` gets a permanent 550 (until accept). */
    refuse(to) {
      refused.add(to.toLowerCase());
    },
    accept(to) {
      refused.delete(to.toLowerCase());
    },
    count(to) {
      return messages.filter((m) => m.envelopeTo.includes(to.toLowerCase())).length;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function addressIn(line) {
  const m = /<([^>]*)>/.exec(line);
  return (m ? m[1] : line.split(':').slice(1).join(':').trim()).toLowerCase();
}

export async function poll(fn, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// parseMessage splits headers and body and finds the text/plain part of a
// (possibly multipart) message, decoding quoted-printable or base64.
export function parseMessage(raw) {
  const { headers, body } = splitHeaders(raw);
  const part = textPart(headers, body);
  return { headers, subject: headers['subject'] || '', text: part ?? '', raw };
}

function splitHeaders(raw) {
  const sep = raw.indexOf('\r\n\r\n');
  const head = sep < 0 ? raw : raw.slice(0, sep);
  const body = sep < 0 ? '' : raw.slice(sep + 4);
  const headers = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { headers, body };
}

function textPart(headers, body) {
  const type = headers['content-type'] || 'text/plain';
  if (/^multipart\//i.test(type)) {
    const b = /boundary="?([^";]+)"?/i.exec(type);
    if (!b) return null;
    const parts = body.split('--' + b[1]).slice(1);
    for (const p of parts) {
      if (p.startsWith('--')) break;
      const sub = splitHeaders(p.replace(/^\r\n/, ''));
      const t = textPart(sub.headers, sub.body.replace(/\r\n$/, ''));
      if (t !== null) return t;
    }
    return null;
  }
  if (!/^text\/plain/i.test(type)) return null;
  const cte = (headers['content-transfer-encoding'] || '7bit').toLowerCase();
  if (cte === 'quoted-printable') return decodeQP(body);
  if (cte === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body;
}

function decodeQP(s) {
  const bytes = [];
  const src = s.replace(/=\r\n/g, '');
  for (let i = 0; i < src.length; i++) {
    if (src[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(src.slice(i + 1, i + 3))) {
      bytes.push(parseInt(src.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(src[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
