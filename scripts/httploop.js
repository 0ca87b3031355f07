#!/usr/bin/env node
// A bounded HTTP loop for reliability tests: for --seconds, --keepalive lanes send requests one after another over
// kept-alive (established) connections and --fresh lanes open a new connection per request (Connection: close).
// Prints one JSON line: per kind ok/failed/errors, requests that reused an established connection, latency
// (p50/p99/max ms), and the client ports of the failed requests (`failedPorts`, at most 1000: which director worker
// owned a flow follows from its port). Plain JS, no dependencies; run it in a client namespace of a test bed.
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    keepalive: { type: 'string', default: '4' },
    fresh: { type: 'string', default: '4' },
    timeout: { type: 'string', default: '10000' },
  },
});
const until = Date.now() + Number(values.seconds) * 1000;
const timeout = Number(values.timeout);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(values.keepalive) });
const kinds = { keepalive: { ok: 0, failed: 0, reused: 0, errors: {} }, fresh: { ok: 0, failed: 0, errors: {} } };
const lat = [];
const failedPorts = [];

function one(kind) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const k = kinds[kind];
    let port = 0;
    const fail = (why) => {
      k.failed++;
      k.errors[why] = (k.errors[why] ?? 0) + 1;
      if (failedPorts.length < 1000) failedPorts.push(port);
      resolve();
    };
    const opts = kind === 'keepalive' ? { agent, timeout } : { agent: false, timeout, headers: { connection: 'close' } };
    const req = http.get(values.url, opts, (r) => {
      r.on('data', () => {});
      r.on('end', () => {
        if (r.statusCode !== 200) return fail(`status ${r.statusCode}`);
        k.ok++;
        if (kind === 'keepalive' && req.reusedSocket) k.reused++;
        lat.push(Date.now() - t0);
        resolve();
      });
      r.on('error', (e) => fail(e.code ?? e.message));
    });
    req.on('socket', (s) => {
      port = s.localPort ?? 0;
      if (!port) s.once('connect', () => (port = s.localPort));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => fail(e.code ?? e.message));
  });
}

async function lane(kind) {
  while (Date.now() < until) await one(kind);
}
await Promise.all([
  ...Array.from({ length: Number(values.keepalive) }, () => lane('keepalive')),
  ...Array.from({ length: Number(values.fresh) }, () => lane('fresh')),
]);
agent.destroy();
lat.sort((a, b) => a - b);
const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null);
console.log(JSON.stringify({ ...kinds, latencyMs: { p50: q(0.5), p99: q(0.99), max: lat.length ? lat[lat.length - 1] : null }, failedPorts }));
