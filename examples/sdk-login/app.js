// The example app: Stytch's prebuilt login UI on a page, and a backend that
// checks the session on every request by asking Latch (POST
// /v1/sessions/authenticate with the project's secret) about the
// stytch_session cookie the SDK sets. Node's standard library only.
import http from 'node:http';
import https from 'node:https';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/**
 * cfg: { port, project: {project_id, secret, public_token}, sdkBaseURL
 * (https://HOST, what the page's SDK calls), latch: {port, host, ca} (how
 * this backend reaches Latch), outbox: () => Promise<messages>|null,
 * stytchJS: path of @stytch/vanilla-js's dist/iife/index.js }
 */
export async function startApp(cfg) {
  const sdk = await readFile(cfg.stytchJS);

  // The one session check: Latch says whether the cookie's token is a live session.
  const latchPost = (path, body) =>
    new Promise((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = https.request({
        host: '127.0.0.1', port: cfg.latch.port, servername: cfg.latch.host, ca: cfg.latch.ca, method: 'POST', path,
        headers: {
          Host: cfg.latch.host,
          Authorization: 'Basic ' + Buffer.from(`${cfg.project.project_id}:${cfg.project.secret}`).toString('base64'),
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(data),
        },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text || 'null') }));
      });
      req.on('error', reject);
      req.end(data);
    });

  async function sessionOf(req) {
    const token = cookie(req, 'stytch_session');
    if (!token) return null;
    const r = await latchPost('/v1/sessions/authenticate', { session_token: token });
    return r.status === 200 ? { user: r.json.user, session: r.json.session } : null;
  }

  const clientScript = `<script src="/stytch.js"></script>
<script>
const client = new stytch.StytchClient(${JSON.stringify(cfg.project.public_token)}, {
  customBaseUrl: ${JSON.stringify(cfg.sdkBaseURL)},
  // The phone field's helper page, from Latch rather than js.stytch.com.
  endpoints: { clientsideServicesIframeURL: ${JSON.stringify(`${cfg.sdkBaseURL}/sdk/v1/clientside-services/index.html`)} },
});
</script>`;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://app');
    const origin = `http://${req.headers.host}`;
    const send = (status, type, body, headers = {}) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers });
      res.end(body);
    };
    const html = (body) => send(200, 'text/html; charset=utf-8', page(body));
    const redirect = (to) => send(302, 'text/plain', '', { Location: to });
    try {
      if (url.pathname === '/stytch.js') return send(200, 'text/javascript; charset=utf-8', sdk);
      // Every other request: who is calling?
      const who = await sessionOf(req);
      switch (url.pathname) {
        case '/':
          if (!who) return redirect('/login');
          return html(`<h1>Signed in</h1>
<p>as <b>${esc(identity(who.user))}</b> (${esc(who.user.user_id)}); this session ends at ${esc(who.session.expires_at)}.</p>
<p>The backend asked Latch about your session for this page, and does so on every request: <a href="/api/me">/api/me</a>.</p>
<button id="logout">Log out</button>${clientScript}
<script>
document.getElementById('logout').onclick = () => client.session.revoke({ forceClear: true }).finally(() => { location.href = '/login'; });
</script>`);
        case '/api/me':
          if (!who) return send(401, 'application/json', JSON.stringify({ error: 'not signed in' }));
          return send(200, 'application/json', JSON.stringify({ user_id: who.user.user_id, emails: who.user.emails, phone_numbers: who.user.phone_numbers }));
        case '/login':
          if (who) return redirect('/');
          return html(`<div id="login"></div>
${cfg.outbox ? '<p class="dev">Test project: the links and codes stay in Latch\'s dev outbox. <a href="/outbox" target="_blank">Open it</a>.</p>' : ''}
${clientScript}
<script>
const props = {
  client,
  elementId: '#login',
  config: {
    products: [stytch.Products.emailMagicLinks, stytch.Products.otp],
    emailMagicLinksOptions: { loginRedirectURL: location.origin + '/authenticate', signupRedirectURL: location.origin + '/authenticate' },
    otpOptions: { methods: ['sms'], expirationMinutes: 5 },
    sessionOptions: { sessionDurationMinutes: 60 },
  },
  callbacks: { onEvent: (e) => { if (e.type === 'OTP_AUTHENTICATE') location.href = '/'; } },
};
// @stytch/vanilla-js 6.3.0 creates the element without its props on the
// first mountLogin; render() hands them over.
stytch.mountLogin(props).render(props);
</script>`);
        case '/authenticate':
          return html(`<p id="status">Signing you in…</p>${clientScript}
<script>
client.authenticateByUrl({ session_duration_minutes: 60 }).then(
  () => { location.href = '/'; },
  (e) => { document.getElementById('status').innerHTML = 'That link did not work (' + (e.error_type || e.message) + '). <a href="/login">Try again</a>.'; });
</script>`);
        case '/outbox': {
          if (!cfg.outbox) break;
          const msgs = await cfg.outbox();
          return html(`<h1>Dev outbox</h1><p>Newest first; reload for new ones.</p>
${msgs.map((m) => `<pre>${esc(JSON.stringify(m, null, 2))}</pre>`).join('\n') || '<p>Nothing yet.</p>'}`);
        }
      }
      send(404, 'text/plain', 'not found');
    } catch (err) {
      send(502, 'text/plain', `Latch did not answer: ${err.message}`);
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, 'localhost', resolve);
  });
  return server;
}

/** `latch outbox --json` as the dev outbox page's source. */
export function outboxReader(bin, args) {
  return () =>
    new Promise((resolve, reject) =>
      execFile(bin, ['outbox', '--json', '--limit', '10', ...args], (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout || '[]')))));
}

function page(body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Latch + Stytch's prebuilt UI</title>
<style>body{font-family:system-ui,sans-serif;max-width:520px;margin:40px auto;padding:0 16px;background:#f6f7f9}.dev{font-size:13px;color:#555;text-align:center}pre{background:#fff;padding:8px;overflow:auto}</style>
</head><body>${body}</body></html>`;
}

function cookie(req, name) {
  for (const part of (req.headers.cookie || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

function identity(user) {
  return user.emails?.[0]?.email || user.phone_numbers?.[0]?.phone_number || user.user_id;
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
