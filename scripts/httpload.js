#!/usr/bin/env node
// A bounded HTTP client for the test bed: N requests (Connection: close, a new TCP connection each) with
// bounded concurrency and a deadline, optionally paced at --rate requests per second; prints one JSON line
// {ok, failed, byServer, errors, bytes, elapsedMs}. Plain JS.
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    n: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
    deadline: { type: 'string', default: '60' },
    timeout: { type: 'string', default: '5000' },
    rate: { type: 'string' },
  },
});
const total = Number(values.n);
const conc = Number(values.concurrency);
const deadline = Date.now() + Number(values.deadline) * 1000;
const res = { ok: 0, failed: 0, byServer: {}, errors: {}, bytes: 0, elapsedMs: 0 };
let issued = 0;
const start = Date.now();
// --rate R: request i starts no earlier than start + i/R seconds.
const rate = values.rate === undefined ? 0 : Number(values.rate);

function one() {
  return new Promise((resolve) => {
    const req = http.get(values.url, { agent: false, timeout: Number(values.timeout), headers: { connection: 'close' } }, (r) => {
      let len = 0;
      r.on('data', (d) => (len += d.length));
      r.on('end', () => {
        const who = r.headers['x-served-by'] ?? '?';
        if (r.statusCode === 200) {
          res.ok++;
          res.byServer[who] = (res.byServer[who] ?? 0) + 1;
          res.bytes += len;
        } else {
          res.failed++;
          res.errors[`status ${r.statusCode}`] = (res.errors[`status ${r.statusCode}`] ?? 0) + 1;
        }
        resolve();
      });
      r.on('error', (e) => fail(e.code ?? e.message, resolve));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => fail(e.code ?? e.message, resolve));
  });
}
function fail(why, resolve) {
  res.failed++;
  res.errors[why] = (res.errors[why] ?? 0) + 1;
  resolve();
}
async function lane() {
  while (issued < total && Date.now() < deadline) {
    const due = rate > 0 ? start + (issued * 1000) / rate : 0;
    issued++;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    await one();
  }
}
await Promise.all(Array.from({ length: conc }, lane));
res.failed += total - res.ok - res.failed;
res.elapsedMs = Date.now() - start;
console.log(JSON.stringify(res));
