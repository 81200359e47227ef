// What an operator calls rather than an SDK: /healthz on the API's port,
// /metrics on the metrics listener (--metrics-addr), not on the API's port.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ids } from '../lib/check.js';

export default function operations(ctx) {
  describe('operations', () => {
    it('GET /healthz answers 200 in the envelope', async () => {
      const r = await fetch(`${ctx.latch.url}/healthz`);
      assert.equal(r.status, 200);
      const body = await r.json();
      assert.equal(body.status, 'ok');
      assert.equal(body.status_code, 200);
      assert.match(body.request_id, ids.request);
    });

    it('GET /metrics on the API port is 404 route_not_found', async () => {
      const r = await fetch(`${ctx.latch.url}/metrics`);
      assert.equal(r.status, 404);
      assert.equal((await r.json()).error_type, 'route_not_found');
    });

    it('GET /metrics on the metrics listener serves Prometheus text with per-route counters', async () => {
      const r = await fetch(`${ctx.latch.metricsUrl}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /^text\/plain/);
      const text = await r.text();
      assert.match(text, /^latch_http_requests_total\{route="POST \/v1\/users",status="200"\} \d+/m);
      assert.match(text, /^latch_http_request_duration_seconds_bucket\{route="POST \/v1\/otps\/authenticate",le="[^"]+"\} \d+/m);
      assert.match(text, /^latch_outbox_deliveries_total\{channel="email",result="sent"\} \d+/m);
    });
  });
}
