// A Twilio double: the Messages API's one route, with the checks Twilio
// makes (Basic auth with the account SID and token, form fields To, From
// and Body, a known sender). What it accepts is kept; what it refuses is
// kept too, so the suite can assert that Latch never sent a bad request.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { poll } from './smtp.js';

export async function startTwilio({ accountSID, authToken, smsFrom, whatsappFrom }) {
  const messages = [];
  const refused = [];
  const path = `/2010-04-01/Accounts/${accountSID}/Messages.json`;
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const fail = (status, code, message) => {
        refused.push({ method: req.method, url: req.url, status, message, body });
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
      };
      if (req.method !== 'POST' || req.url !== path) return fail(404, 20404, `unexpected ${req.method} ${req.url}`);
      const expected = 'Basic ' + Buffer.from(`${accountSID}:${authToken}`).toString('base64');
      if (req.headers.authorization !== expected) return fail(401, 20003, 'Authenticate');
      if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] || '')) {
        return fail(400, 21620, `Content-Type ${req.headers['content-type']}`);
      }
      const form = new URLSearchParams(body);
      const to = form.get('To');
      const from = form.get('From');
      const text = form.get('Body');
      if (!to || !from || !text) return fail(400, 21602, 'To, From and Body are required');
      let channel;
      if (to.startsWith('whatsapp:')) {
        channel = 'whatsapp';
        if (from !== `whatsapp:${whatsappFrom}`) return fail(400, 63007, `no WhatsApp sender ${from}`);
      } else {
        channel = 'sms';
        if (from !== smsFrom) return fail(400, 21212, `invalid From ${from}`);
      }
      if (!/^\+[1-9]\d{6,14}$/.test(to.replace(/^whatsapp:/, ''))) return fail(400, 21211, `invalid To ${to}`);
      const sid = 'SM' + randomBytes(16).toString('hex');
      messages.push({ channel, to: to.replace(/^whatsapp:/, ''), from, body: text });
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ sid, account_sid: accountSID, to, from, body: text, status: 'queued' }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    messages,
    refused,
    /** Waits for the n-th (1-based) message on channel to the number `to`. */
    waitFor(channel, to, n = 1, timeoutMs = 10000) {
      return poll(() => messages.filter((m) => m.channel === channel && m.to === to)[n - 1], `${channel} #${n} to ${to}`, timeoutMs);
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
