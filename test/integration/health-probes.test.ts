/**
 * Each probe kind against servers on the loopback (no root): success, and each failure with the error text an
 * operator sees in `-L --health`. Timeouts are short and bounded.
 */
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateHealthSpec } from '../../src/config/health-spec.js';
import { probe, type ProbeTarget } from '../../src/health/probes.js';

const servers: { close(): unknown }[] = [];
let tcpPort = 0;
let closedPort = 0;
let httpPort = 0;
let udpPort = 0;
let seenHost = '';

function listen(s: net.Server): Promise<number> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
}

beforeAll(async () => {
  const t = net.createServer((c) => c.destroy());
  tcpPort = await listen(t);
  const c = net.createServer();
  closedPort = await listen(c);
  await new Promise((r) => c.close(r)); // a port nobody listens on any more
  const h = http.createServer((req, res) => {
    seenHost = req.headers.host ?? '';
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
    res.writeHead(req.url === '/missing' ? 404 : 200);
    res.end(req.url === '/health' ? 'status: ok\n' : 'hello\n');
  });
  httpPort = await listen(h);
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => {
    if (m.toString() !== 'silence') u.send(Buffer.concat([Buffer.from('pong '), m]), r.port, r.address);
  });
  udpPort = await new Promise<number>((r) => u.bind(0, '127.0.0.1', () => r(u.address().port)));
  servers.push(t, h, u);
});

afterAll(() => {
  for (const s of servers) s.close();
});

const target = (port: number): ProbeTarget => ({ rip: '127.0.0.1', port, vip: '10.0.0.100', vport: 80, proto: 'tcp' });
const spec = (o: object) => validateHealthSpec({ intervalMs: 1000, timeoutMs: 300, ...o });

describe('health probes (host source)', () => {
  it('tcp: connects, or names the refusal', async () => {
    expect(await probe(spec({ kind: 'tcp' }), target(tcpPort))).toBeNull();
    expect(await probe(spec({ kind: 'tcp' }), target(closedPort))).toBe('tcp connect: ECONNREFUSED');
  });

  it('http: status list, body substring, Host header, timeout', async () => {
    expect(await probe(spec({ kind: 'http', path: '/health', expectBody: 'status: ok' }), target(httpPort))).toBeNull();
    expect(seenHost).toBe(`127.0.0.1:${httpPort}`);
    expect(await probe(spec({ kind: 'http', host: 'www.example.test' }), target(httpPort))).toBeNull();
    expect(seenHost).toBe('www.example.test');
    expect(await probe(spec({ kind: 'http', path: '/missing' }), target(httpPort))).toBe('http GET /missing: status 404');
    expect(await probe(spec({ kind: 'http', path: '/missing', expectStatus: [404] }), target(httpPort))).toBeNull();
    expect(await probe(spec({ kind: 'http', path: '/', expectBody: 'status: ok' }), target(httpPort))).toBe('http GET /: body does not contain "status: ok"');
    expect(await probe(spec({ kind: 'http', path: '/slow' }), target(httpPort))).toBe('http GET /slow: timeout after 300 ms');
    expect(await probe(spec({ kind: 'http' }), target(closedPort))).toBe('http GET /: ECONNREFUSED');
  });

  it.skipIf(!hasOpenssl())(`https: a self-signed real is checked for its answer, not its certificate${hasOpenssl() ? '' : ' (skipped: no openssl to make a certificate)'}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapvs-hc-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=real.test'], { stdio: 'ignore' });
      const s = https.createServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (_q, res) => res.end('secure ok'));
      const port = await listen(s as unknown as net.Server);
      try {
        expect(await probe(spec({ kind: 'https', expectBody: 'secure ok', host: 'real.test' }), target(port))).toBeNull();
        expect(await probe(spec({ kind: 'http' }), target(port))).toMatch(/^http GET \/: /); // plain HTTP to a TLS port fails
      } finally {
        s.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('udp: a reply (containing expect), none, or the real\'s port unreachable', async () => {
    const u = { ...target(udpPort), proto: 'udp' as const };
    expect(await probe(spec({ kind: 'udp', send: 'ping', expect: 'pong ping' }), u)).toBeNull();
    expect(await probe(spec({ kind: 'udp', send: 'ping', expect: 'nope' }), u)).toBe('udp: reply does not contain "nope"');
    expect(await probe(spec({ kind: 'udp', send: 'silence' }), u)).toBe('udp: no reply within 300 ms');
    expect(await probe(spec({ kind: 'udp', send: 'ping' }), { ...u, port: closedPort })).toBe('udp: ECONNREFUSED');
  });

  it('exec: exit status with the real in the environment, stderr in the error, killed at the timeout', async () => {
    const sh = (script: string) => spec({ kind: 'exec', command: ['/bin/sh', '-c', script] });
    const t = { ...target(8080), vip: '10.0.0.100', vport: 80 };
    expect(await probe(sh('[ "$TAPVS_REAL_IP:$TAPVS_REAL_PORT $TAPVS_VIP:$TAPVS_VPORT $TAPVS_PROTO" = "127.0.0.1:8080 10.0.0.100:80 tcp" ]'), t)).toBeNull();
    expect(await probe(sh('echo "backend says no" >&2; exit 2'), t)).toBe('exec /bin/sh: exit 2: backend says no');
    expect(await probe(sh('sleep 5'), t)).toBe('exec /bin/sh: killed after 300 ms');
    expect(await probe(spec({ kind: 'exec', command: ['/nonexistent/check'] }), t)).toBe('exec /nonexistent/check: ENOENT');
  });
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
