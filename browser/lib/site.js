// The app under test: a tiny web site on loopback that serves Stytch's
// frontend SDK exactly as published (the package's dist/iife/index.js, read
// from node_modules, never rebuilt) and three pages that use it against
// Latch:
//
//   /headless      a StytchClient; the test calls its methods
//   /authenticate  the magic links' redirect page: authenticateByUrl
//   /login?flow=…  the prebuilt login UI (mountLogin): eml, otp-email, otp-sms
//
// The same pages under /b/ and /c/ use other projects' public tokens (each
// project has its own per-IP send limit and settings).
//
// One server answers on http://localhost:PORT (the authorized origin) and
// on http://127.0.0.1:PORT, a different origin, which the project does not
// authorize.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

// The package's own file (its exports map hides dist/iife from resolve()).
export const sdkPath = fileURLToPath(new URL('../node_modules/@stytch/vanilla-js/dist/iife/index.js', import.meta.url));

// The UI configurations of the prebuilt login, by flow.
const flows = {
  eml: (origin) => ({
    products: ['emailMagicLinks'],
    emailMagicLinksOptions: {
      loginRedirectURL: `${origin}/authenticate`,
      signupRedirectURL: `${origin}/authenticate`,
      loginExpirationMinutes: 30,
      signupExpirationMinutes: 30,
    },
    sessionOptions: { sessionDurationMinutes: 60 },
  }),
  'otp-email': () => ({
    products: ['otp'],
    otpOptions: { methods: ['email'], expirationMinutes: 5 },
    sessionOptions: { sessionDurationMinutes: 60 },
  }),
  'otp-sms': () => ({
    products: ['otp'],
    otpOptions: { methods: ['sms'], expirationMinutes: 5 },
    sessionOptions: { sessionDurationMinutes: 60 },
  }),
};

/**
 * Starts the site. apiHost is the name in customBaseUrl (Chromium maps it to
 * Latch's TLS port). The project's public token is set once the project
 * exists (its authorized origin names this site's port).
 */
export async function startSite({ apiHost, clientOptions }) {
  // The SDK's client options: customBaseUrl (the documented way) and the
  // phone field's helper page on Latch, unless the caller gives others.
  const options = clientOptions || {
    customBaseUrl: `https://${apiHost}`,
    endpoints: { clientsideServicesIframeURL: `https://${apiHost}/sdk/v1/clientside-services/index.html` },
  };
  const publicTokens = { '': '', b: '', c: '' };
  const sdk = await readFile(sdkPath);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://site');
    const origin = `http://${req.headers.host}`;
    const m = /^\/(b|c)(\/.*)$/.exec(url.pathname);
    const publicToken = publicTokens[m ? m[1] : ''];
    const path = m ? m[2] : url.pathname;
    const page = (body) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Latch from the browser</title>
<style>body{font-family:system-ui,sans-serif;margin:0;padding:32px;background:#f6f7f9}#login{max-width:420px;margin:0 auto}</style>
</head><body>${body}</body></html>`);
    };
    // The client every page makes: the SDK's own options, pointed at Latch.
    const client = `<script src="/stytch.js"></script>
<script>
window.pageErrors = [];
window.addEventListener('error', (e) => window.pageErrors.push(String(e.message)));
window.client = new stytch.StytchClient(${JSON.stringify(publicToken)}, ${JSON.stringify(options)});
</script>`;
    switch (path) {
      case '/stytch.js':
        res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
        return res.end(sdk);
      case '/headless':
        return page(`<h1>Headless</h1>${client}`);
      case '/authenticate':
        return page(`<h1 id="status">Signing you in…</h1>${client}
<script>
window.authResult = client.authenticateByUrl({ session_duration_minutes: 60 }).then(
  (r) => { document.getElementById('status').textContent = 'Signed in'; return { ok: true, data: r && r.data }; },
  (e) => { document.getElementById('status').textContent = 'Failed'; return { ok: false, error: e.error_type || String(e) }; });
</script>`);
      case '/login': {
        const flow = flows[url.searchParams.get('flow')];
        if (!flow) break;
        return page(`<div id="login"></div>${client}
<script>
window.uiEvents = [];
const config = ${JSON.stringify(flow(origin))};
config.products = config.products.map((p) => stytch.Products[p]);
const props = { client, elementId: '#login', config,
  callbacks: { onEvent: (e) => uiEvents.push(e.type), onError: (e) => uiEvents.push('error: ' + (e.message || e)) } };
// 6.3.0's mountLogin creates the element without its props on the first
// call (see CONTRACT-NOTES): render() hands them over.
stytch.mountLogin(props).render(props);
</script>`);
      }
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    port,
    origin: `http://localhost:${port}`,
    otherOrigin: `http://127.0.0.1:${port}`,
    /** Sets the public token of the pages (prefix '', 'b' or 'c'). */
    setPublicToken(t, prefix = '') {
      publicTokens[prefix] = t;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
