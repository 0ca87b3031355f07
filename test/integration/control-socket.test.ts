/**
 * The control API over a real Unix socket in a temp dir: framing, error replies for bad input, socket mode,
 * and that a bad request never changes the configuration.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { Control } from '../../src/control/control.js';
import { ControlServer } from '../../src/control/server.js';
import { InlineWorker } from '../../src/control/workers.js';
import { MemoryIO } from '../../src/io/memory-io.js';
import { parseIPv4 } from '../../src/util/addr.js';

const dir = mkdtempSync(join(tmpdir(), 'tapvs-sock-'));
const path = join(dir, 'run', 'tapvs.sock');
let control: Control;
let server: ControlServer;

/** Sends raw bytes on a fresh connection; resolves with every reply line received before close/timeout. */
function raw(bytes: string | Buffer, waitMs = 300): Promise<{ replies: any[]; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path });
    let buf = '';
    let closed = false;
    s.on('data', (d) => (buf += d));
    s.on('close', () => (closed = true));
    s.on('error', () => {});
    s.once('connect', () => s.write(bytes));
    setTimeout(() => {
      s.destroy();
      resolve({ replies: buf.split('\n').filter(Boolean).map((l) => JSON.parse(l)), closed });
    }, waitMs);
  });
}

beforeAll(async () => {
  control = new Control({ mac: '02:00:00:00:00:01', addrs: [{ addr: parseIPv4('198.18.0.1'), prefix: 24 }], gateway: 0, verifyL4: true });
  control.attach([new InlineWorker(0, new MemoryIO(), (m) => control.onWorkerMessage(m))]);
  server = new ControlServer(control, path, 4096);
  await server.listen();
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('control socket', () => {
  it('is created with mode 0600', () => {
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('answers requests in order with ids', async () => {
    const c = await ControlClient.connect(path);
    const [a, b] = await Promise.all([
      c.request({ op: 'ping' }),
      c.request({ op: 'add-service', service: { proto: 'tcp', vip: '198.18.0.100', vport: 80, scheduler: 'rr' } }),
    ]);
    expect(a).toEqual({ pong: true });
    expect(b).toBeNull();
    const list = await c.request({ op: 'list' });
    expect(list.services.map((s) => `${s.proto} ${s.vip}:${s.vport} ${s.scheduler}`)).toEqual(['tcp 198.18.0.100:80 rr']);
    c.close();
  });

  it.each([
    ['not JSON', '{op: add-service\n', 'EBADREQ', 'request is not valid JSON'],
    ['a JSON array', '[1,2]\n', 'EBADREQ', 'request must be a JSON object'],
    ['an unknown op', '{"op":"drop-tables"}\n', 'EBADREQ', 'unknown op "drop-tables"'],
    ['a missing op', '{"id":3}\n', 'EBADREQ', 'unknown op undefined'],
    ['a bad address', '{"op":"add-service","service":{"proto":"tcp","vip":"300.1.1.1","vport":80}}\n', 'EINVAL', 'service.vip must be an IPv4 address'],
    ['a bad port', '{"op":"add-service","service":{"proto":"tcp","vip":"198.18.0.9","vport":70000}}\n', 'EINVAL', 'service.vport must be an integer in 0..65535'],
    ['a bad protocol', '{"op":"add-service","service":{"proto":"sctp","vip":"198.18.0.9","vport":80}}\n', 'EINVAL', 'service.proto must be "tcp" or "udp"'],
    ['a bad weight', '{"op":"add-real","service":{"proto":"tcp","vip":"198.18.0.100","vport":80},"real":{"rip":"198.18.1.11","method":"nat","weight":70000}}\n', 'EINVAL', 'real.weight must be an integer in 0..65535'],
    ['thresholds the wrong way round', '{"op":"add-real","service":{"proto":"tcp","vip":"198.18.0.100","vport":80},"real":{"rip":"198.18.1.11","method":"nat","uthreshold":5,"lthreshold":9}}\n', 'ERANGE', 'Numerical result out of range'],
    ['a null service', '{"op":"del-service","service":null}\n', 'EINVAL', 'service must be an object'],
  ])('answers %s with an error and changes nothing', async (_what, line, code, message) => {
    const before = JSON.stringify(control.list());
    const v = control.snapshot().version;
    const { replies, closed } = await raw(line);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ ok: false, error: { code } });
    expect(replies[0].error.message).toContain(message);
    expect(closed).toBe(false);
    expect(JSON.stringify(control.list())).toBe(before);
    expect(control.snapshot().version).toBe(v);
  });

  it('refuses an oversized request, closes that connection, and keeps serving others', async () => {
    const before = JSON.stringify(control.list());
    const { replies, closed } = await raw(`{"op":"ping","pad":"${'x'.repeat(10_000)}"}\n`);
    expect(replies).toEqual([{ ok: false, error: { code: 'ETOOBIG', message: 'request longer than 4096 bytes' } }]);
    expect(closed).toBe(true);
    expect(JSON.stringify(control.list())).toBe(before);
    const c = await ControlClient.connect(path);
    expect(await c.request({ op: 'ping' })).toEqual({ pong: true });
    c.close();
  });

  it('survives half-closed and abruptly closed connections', async () => {
    await raw('{"op":"pi');
    const s = net.createConnection({ path });
    await new Promise((r) => s.once('connect', r));
    s.end('{"op":"ping"}\n');
    await new Promise((r) => setTimeout(r, 100));
    const c = await ControlClient.connect(path);
    expect(await c.request({ op: 'ping' })).toEqual({ pong: true });
    c.close();
  });

  it('never takes over the socket of a live daemon, but replaces a stale socket file', async () => {
    const second = new ControlServer(control, path);
    await expect(second.listen()).rejects.toThrow(/already listening/);
    const stale = join(dir, 'stale.sock');
    writeFileSync(stale, '');
    const third = new ControlServer(control, stale);
    await third.listen();
    const c = await ControlClient.connect(stale);
    expect(await c.request({ op: 'ping' })).toEqual({ pong: true });
    c.close();
    await third.close();
  });
});
