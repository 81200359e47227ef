// The backend side of the console suite: a user with live sessions made
// through Latch's own API (HTTP Basic with the project's secret), and
// sessions/authenticate, which must refuse a session the console revoked.
export function backend(url, project) {
  const auth = 'Basic ' + Buffer.from(`${project.project_id}:${project.secret}`).toString('base64');
  async function call(method, path, body) {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  }
  return {
    call,
    async createUser(email, name) {
      const r = await call('POST', '/v1/users', { email, name });
      if (r.status !== 200) throw new Error(`create user: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.user_id;
    },
    /** Logs the user in by an embeddable magic link, from a device. */
    async login(userID, attributes) {
      const link = await call('POST', '/v1/magic_links', { user_id: userID });
      if (link.status !== 200) throw new Error(`magic link: ${link.status} ${JSON.stringify(link.body)}`);
      const r = await call('POST', '/v1/magic_links/authenticate', {
        token: link.body.token, session_duration_minutes: 60, attributes,
      });
      if (r.status !== 200) throw new Error(`authenticate: ${r.status} ${JSON.stringify(r.body)}`);
      return { id: r.body.session.session_id, token: r.body.session_token };
    },
    /** sessions/authenticate's status for a session token. */
    async authenticate(token) {
      return (await call('POST', '/v1/sessions/authenticate', { session_token: token })).status;
    },
  };
}
