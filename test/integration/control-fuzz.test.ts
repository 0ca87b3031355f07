/**
 * Control socket fuzz: a seeded stream of hostile input against a real ControlServer (small limits so that every
 * limit is reached): malformed JSON and bytes, oversized lines, deep nesting, wrong types, unknown and
 * prototype-named ops, huge numbers, mutations that are invalid in one field, slow writers (a byte at a time),
 * half-closed connections, a client that never reads its replies, more clients than allowed at once. The
 * result: error replies or disconnects, never a crash, the server still answers, and the configuration (`list`)
 * is exactly what it was. Then all-or-nothing: a request that fails at its last step (a failing publish hook:
 * the daemon's queue steering) changes nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { Control } from '../../src/control/control.js';
import { ControlServer } from '../../src/control/server.js';
import { InlineWorker } from '../../src/control/workers.js';
import { LbError } from '../../src/errors.js';
import { MemoryIO } from '../../src/io/memory-io.js';
import { parseIPv4 } from '../../src/util/addr.js';
import { prng } from '../helpers/prng.js';

const MAX_BYTES = 16 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'tapvs-cfuzz-'));
const path = join(dir, 'tapvs.sock');
let control: Control;
let server: ControlServer;
const SEED = Number(process.env.CONTROL_FUZZ_SEED ?? 4242);
const LINES = Math.max(100, Math.round(Number(process.env.CONTROL_FUZZ_LINES ?? 3000) / 100) * 100);
const rand = prng(SEED);
const int = (n: number) => (rand() * n) | 0;
const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;

const SVC = { proto: 'tcp', vip: '198.18.0.100', vport: 80 };
const SETUP = [
  { op: 'add-service', service: { ...SVC, scheduler: 'wlc', persistent: 60 } },
  { op: 'add-real', service: SVC, real: { rip: '198.18.1.11', rport: 8080, method: 'nat', weight: 3 } },
  { op: 'add-real', service: SVC, real: { rip: '198.18.1.12', rport: 8080, method: 'nat' } },
  { op: 'add-service', service: { proto: 'udp', vip: '198.18.0.100', vport: 53, scheduler: 'rr' } },
  { op: 'add-real', service: { proto: 'udp', vip: '198.18.0.100', vport: 53 }, real: { rip: '198.18.1.11', method: 'nat' } },
];

/** The configuration as `list` shows it, without counters (the fuzz sends no traffic, but stay exact). */
async function config(): Promise<string> {
  const r = await control.handle({ op: 'list' });
  return JSON.stringify(r, (k, v) => (k === 'stats' ? undefined : v));
}

/** Values that are wrong for any field of a request (null, -0 and [] are not: they can mean "unchanged", 0, none). */
const BAD = [
  true, -1, 1.5, 4294967296, 2 ** 53 + 1, 1e308, '', ' ', '80', '198.18.0.100 ', '300.1.1.1', '0.0.0.0', '255.255.255.255',
  '224.0.0.1', [1], {}, { a: 1 }, 'x'.repeat(5000), '\u0000', '__proto__', 'constructor', 'toString',
];
/** A mutation with exactly one field made invalid (a value from BAD, which no field accepts). */
function badMutation(): object {
  const r = int(9);
  const svc: Record<string, unknown> = { ...SVC };
  const real: Record<string, unknown> = { rip: '198.18.1.99', rport: 9000, method: 'nat', weight: 1 };
  if (r === 0) return { op: 'add-service', service: { ...svc, vip: pick(BAD) } };
  if (r === 1) return { op: 'add-service', service: { proto: 'tcp', vip: '198.18.0.101', vport: pick(BAD) } };
  if (r === 2) {
    const field = pick(['scheduler', 'persistent', 'netmask', 'mhTableSize', 'schedFlags', 'laddrs', 'clientIp']);
    // Any dotted quad is a netmask to ipvsadm (-M), contiguous or not.
    return { op: 'edit-service', service: { ...svc, [field]: pick(field === 'netmask' ? BAD.filter((v) => !/^\d+\.\d+\.\d+\.\d+$/.test(String(v))) : BAD) } };
  }
  if (r === 3) return { op: 'add-real', service: svc, real: { ...real, [pick(['rip', 'rport', 'method', 'weight', 'uthreshold', 'lthreshold'])]: pick(BAD) } };
  if (r === 4) return { op: 'edit-real', service: svc, real: { rip: '198.18.1.11', rport: 8080, [pick(['weight', 'method', 'uthreshold'])]: pick(BAD) } };
  if (r === 5) return { op: 'del-real', service: svc, real: { rip: pick(BAD) } };
  if (r === 6) return { op: 'del-service', service: { ...svc, [pick(['proto', 'vip', 'vport'])]: pick(BAD) } };
  if (r === 7) return { op: 'set-timeouts', tcp: pick(BAD), tcpfin: 0, udp: 0 };
  return { op: 'add-service', service: pick(BAD) };
}

/** One line of hostile input. */
function hostileLine(): string {
  const r = int(10);
  if (r === 0) return Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256)).filter((b) => b !== 10)).toString('latin1');
  if (r === 1) return JSON.stringify(badMutation()).slice(0, 1 + int(60)); // cut short
  if (r === 2) return '['.repeat(1 + int(MAX_BYTES - 10)); // deep, unbalanced
  if (r === 3) {
    const depth = 1 + int(4000);
    return `{"op":${'['.repeat(depth)}1${']'.repeat(depth)}}`; // deep and valid JSON: an unknown op
  }
  if (r === 4) {
    const depth = 1 + int(1500);
    return JSON.stringify({ op: 'add-real', service: SVC }).replace(/}$/, `,"real":${'{"rip":'.repeat(depth)}1${'}'.repeat(depth)}}`);
  }
  if (r === 5) return JSON.stringify({ op: pick(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'LIST', ' list', 'list\u0000', '', 42, null]) });
  if (r === 6) return JSON.stringify(pick([[], 1, 'list', null, true, { id: 'x' }, { op: 'list', service: pick(BAD) }]));
  if (r === 7) return `{"op":"ping","id":${pick(['1e400', '-1e400', '123456789012345678901234567890', '0.1', '-0'])}}`;
  if (r === 8) return '{"op":"add-service","__proto__":{"service":{"proto":"tcp","vip":"198.18.0.200","vport":1}}}';
  return JSON.stringify(badMutation());
}

/** Opens a raw connection; `done` resolves with the replies and whether the server closed it. */
function conn(): { s: net.Socket; done: Promise<{ replies: any[]; closed: boolean }> } {
  const s = net.createConnection({ path });
  let buf = '';
  s.on('data', (d) => (buf += d));
  s.on('error', () => {});
  const done = new Promise<{ replies: any[]; closed: boolean }>((resolve) => {
    const finish = (closed: boolean) => resolve({ replies: buf.split('\n').filter(Boolean).map((l) => JSON.parse(l)), closed });
    s.on('close', () => finish(true));
    setTimeout(() => {
      s.destroy();
      finish(false);
    }, 5000);
  });
  return { s, done };
}

beforeAll(async () => {
  control = new Control({ mac: '02:00:00:00:00:01', addrs: [{ addr: parseIPv4('198.18.0.1'), prefix: 24 }, { addr: parseIPv4('198.18.1.1'), prefix: 24 }], gateway: 0, verifyL4: true });
  control.attach([new InlineWorker(0, new MemoryIO(), (m) => control.onWorkerMessage(m))]);
  for (const req of SETUP) expect(await control.handle(req)).toMatchObject({ ok: true });
  server = new ControlServer(control, path, MAX_BYTES, { maxClients: 16, partialTimeoutMs: 400, maxPending: 8 });
  await server.listen();
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('control socket under hostile input', () => {
  it(`answers a seeded stream of ${LINES} hostile lines with errors, and the configuration stays as it was`, async () => {
    const before = await config();
    const t0 = Date.now();
    let errors = 0;
    let closedEarly = 0;
    for (let batch = 0; batch < LINES / 100; batch++) {
      const { s, done } = conn();
      const lines = Array.from({ length: 100 }, hostileLine);
      s.write(lines.join('\n') + '\n');
      s.end();
      const { replies } = await done;
      for (const [k, r] of replies.entries()) {
        expect(r.ok, `${JSON.stringify(r).slice(0, 300)} for ${lines.filter((l) => l.trim() !== '')[k]!.slice(0, 300)}`).toBe(r.result?.pong === true);
        if (!r.ok) {
          errors++;
          expect(r.error.code).toMatch(/^E[A-Z_]+$/);
          expect(r.error.message.length).toBeLessThan(400);
          expect(r.error.message).not.toMatch(/internal error/);
        }
      }
      if (replies.length < lines.filter((l) => l.trim() !== '').length) closedEarly++;
    }
    console.log(`control fuzz: seed ${SEED}, ${LINES} lines in ${Date.now() - t0} ms, ${errors} error replies, ${closedEarly} connections cut off, 0 crashes, configuration unchanged`);
    expect(errors).toBeGreaterThan(LINES * 0.8);
    expect(await config()).toBe(before);
    expect((await control.handle({ op: 'ping' })).ok).toBe(true);
  }, 60_000 + LINES * 20);

  it('cuts off oversized lines and slow writers, serves a slow writer that finishes in time', async () => {
    const big = conn();
    big.s.write('{"op":"list","pad":"' + 'x'.repeat(MAX_BYTES * 2));
    const b = await big.done;
    expect(b).toMatchObject({ closed: true, replies: [{ ok: false, error: { code: 'ETOOBIG' } }] });
    // A byte every 5 ms: the 14-byte ping completes within the 400 ms allowed.
    const quick = conn();
    for (const ch of '{"op":"ping"}\n') {
      quick.s.write(ch);
      await new Promise((r) => setTimeout(r, 5));
    }
    quick.s.end();
    expect((await quick.done).replies).toEqual([{ ok: true, result: { pong: true } }]);
    // A byte every 40 ms: cut off after 400 ms with an error, the request never ran.
    const slow = conn();
    const text = JSON.stringify({ op: 'add-service', service: { proto: 'tcp', vip: '198.18.0.222', vport: 1 } });
    for (let i = 0; i < 15 && !slow.s.destroyed; i++) {
      slow.s.write(text[i]!);
      await new Promise((r) => setTimeout(r, 40));
    }
    const sl = await slow.done;
    expect(sl.closed).toBe(true);
    expect(sl.replies).toMatchObject([{ ok: false, error: { code: 'EBADREQ' } }]);
    expect(server.stats.slowClosed).toBeGreaterThanOrEqual(1);
    expect(server.stats.oversized).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('answers a half-closed connection, also its last line without a newline', async () => {
    const c = conn();
    c.s.end('{"op":"ping","id":1}\n{"op":"ping","id":2}');
    expect(await c.done).toEqual({ closed: true, replies: [{ id: 1, ok: true, result: { pong: true } }, { id: 2, ok: true, result: { pong: true } }] });
  });

  it('pauses a client that never reads; others are served meanwhile', async () => {
    const hog = net.createConnection({ path });
    hog.on('error', () => {});
    hog.pause(); // never reads
    await new Promise((r) => hog.once('connect', r));
    const before = server.stats.requests;
    const flood = '{"op":"list"}\n'.repeat(20_000);
    hog.write(flood);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const c = await ControlClient.connect(path);
    expect(await c.request({ op: 'ping' })).toEqual({ pong: true });
    c.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(server.stats.requests - before).toBeLessThan(20_000); // the hog was paused: not all its requests ran
    hog.destroy();
  }, 30_000);

  it('refuses connections beyond the limit with an error, and serves again once they are gone', async () => {
    const many = Array.from({ length: 40 }, () => conn());
    await new Promise((r) => setTimeout(r, 300));
    const refused = (await Promise.all(many.slice(16).map(async (c) => {
      c.s.end();
      return c.done;
    }))).filter((r) => r.replies[0]?.error?.message?.includes('too many'));
    for (const c of many.slice(0, 16)) c.s.destroy();
    expect(refused.length).toBeGreaterThanOrEqual(20);
    expect(server.stats.busy).toBeGreaterThanOrEqual(20);
    await new Promise((r) => setTimeout(r, 100));
    const c = await ControlClient.connect(path);
    expect(await c.request({ op: 'ping' })).toEqual({ pong: true });
    c.close();
    const st = await control.handle({ op: 'status' });
    expect((st as any).result.controlSocket).toMatchObject({ deniedPeers: 0 });
    expect((st as any).result.controlSocket.badJson).toBeGreaterThan(0);
  }, 30_000);
});

describe('config changes are all or nothing', () => {
  it('a multi-part edit whose last part is wrong changes nothing', async () => {
    const before = await config();
    const r = await control.handle({ op: 'edit-service', service: { ...SVC, scheduler: 'rr', persistent: 0, addLaddrs: ['198.18.1.200'], delLaddrs: ['198.18.1.201'] } });
    expect(r).toMatchObject({ ok: false, error: { code: 'EINVAL' } });
    expect(await config()).toBe(before);
  });

  it('a request that fails when it is published (queue steering) changes nothing, and the next one works', async () => {
    const before = await config();
    const version = control.snapshot().version;
    control.onPublish = () => {
      throw new LbError('EIO', 'cannot steer TAP queues: test');
    };
    try {
      for (const req of [
        { op: 'add-service', service: { proto: 'tcp', vip: '198.18.0.101', vport: 443, scheduler: 'rr' } },
        { op: 'del-service', service: SVC },
        { op: 'edit-real', service: SVC, real: { rip: '198.18.1.11', rport: 8080, weight: 9 } },
        { op: 'set-timeouts', tcp: 1000, tcpfin: 0, udp: 0 },
        { op: 'clear' },
      ]) {
        expect(await control.handle(req), JSON.stringify(req)).toMatchObject({ ok: false, error: { code: 'EIO' } });
        expect(await config(), JSON.stringify(req)).toBe(before);
      }
      expect((await control.handle({ op: 'status' }) as any).result.timeouts.tcp).toBe(900);
    } finally {
      control.onPublish = null;
    }
    expect(control.snapshot().version).toBe(version);
    expect(await control.handle({ op: 'add-service', service: { proto: 'tcp', vip: '198.18.0.101', vport: 443, scheduler: 'rr' } })).toMatchObject({ ok: true });
    expect(await config()).not.toBe(before);
  });
});
