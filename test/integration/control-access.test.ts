/**
 * Who may use the control socket (src/control/peer.ts, server.ts): mode 0600 by default, 0660 with a socket
 * group; and behind the file mode, the kernel credentials of each connecting process (SO_PEERCRED): uid 0, the
 * daemon's uid, or a member of the socket group (primary or supplementary) — anyone else gets an EPERM reply and
 * is disconnected, counted and logged, even through a socket file whose mode was loosened. Clients run as other
 * users in child processes, so this needs root.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Control } from '../../src/control/control.js';
import { resolveGroup } from '../../src/control/peer.js';
import { ControlServer } from '../../src/control/server.js';
import { InlineWorker } from '../../src/control/workers.js';
import { MemoryIO } from '../../src/io/memory-io.js';
import { nativeAvailable } from '../../src/io/native.js';
import { parseIPv4 } from '../../src/util/addr.js';

const skip = process.getuid?.() !== 0 ? 'needs root (clients run as other users)' : !nativeAvailable() ? 'native addon not built' : null;
const NOBODY = 65534;
const GROUP = 4242; // a gid nobody has unless a test gives it

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function serve(group: number | null): Promise<{ server: ControlServer; path: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-acl-'));
  dirs.push(dir);
  chmodSync(dir, 0o755); // others may reach the socket file; its own mode decides
  const control = new Control({ mac: '02:00:00:00:00:01', addrs: [{ addr: parseIPv4('198.18.0.1'), prefix: 24 }], gateway: 0, verifyL4: true });
  control.attach([new InlineWorker(0, new MemoryIO(), (m) => control.onWorkerMessage(m))]);
  const path = join(dir, 'tapvs.sock');
  const server = new ControlServer(control, path, undefined, { group: group === null ? null : { name: String(group), gid: group } });
  await server.listen();
  return { server, path, dir };
}

/**
 * Runs a client as (uid, gid, supplementary groups): connects, sends a ping, prints what happened as JSON:
 * {connect: errno code or 'ok', replies: [...], closed}.
 */
function client(path: string, uid: number, gid: number, groups: number[]): Promise<{ connect: string; replies: any[]; closed: boolean }> {
  const script = `
    process.setgroups(${JSON.stringify(groups)}); process.setgid(${gid}); process.setuid(${uid});
    const s = require('node:net').createConnection(${JSON.stringify(path)});
    let buf = '', connect = 'ok';
    s.on('error', (e) => { connect = e.code; });
    s.on('connect', () => s.write('{"op":"ping"}\\n'));
    s.on('data', (d) => { buf += d; if (buf.includes('\\n')) s.end(); });
    const done = (closed) => { console.log(JSON.stringify({ connect, replies: buf.split('\\n').filter(Boolean).map((l) => JSON.parse(l)), closed })); process.exit(0); };
    s.on('close', () => done(true));
    setTimeout(() => done(false), 2000);`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n')[0]!));
      } catch {
        reject(new Error(`client failed: ${out}${err}`));
      }
    });
  });
}

const PONG = { ok: true, result: { pong: true } };

describe.skipIf(skip !== null)(`control socket access${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('default: 0600, root is served, another user cannot even connect', async () => {
    const { server, path } = await serve(null);
    try {
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(await client(path, 0, 0, [])).toMatchObject({ connect: 'ok', replies: [PONG] });
      expect(await client(path, NOBODY, NOBODY, [])).toMatchObject({ connect: 'EACCES', replies: [] });
    } finally {
      await server.close();
    }
  });

  it('behind a loosened socket file, the peer check still refuses other users: EPERM, disconnect, counted', async () => {
    const { server, path } = await serve(null);
    try {
      chmodSync(path, 0o666); // a mistake, or another way in: the file no longer protects
      const r = await client(path, NOBODY, NOBODY, []);
      expect(r).toMatchObject({ connect: 'ok', closed: true, replies: [{ ok: false, error: { code: 'EPERM' } }] });
      expect(r.replies[0].error.message).toMatch(/uid 65534 gid 65534 is not uid 0/);
      expect(server.stats.deniedPeers).toBe(1);
      expect(server.stats.requests).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('with a socket group: 0660 and that group; members (primary or supplementary) are served, others refused', async () => {
    const { server, path } = await serve(GROUP);
    try {
      const st = statSync(path);
      expect([st.mode & 0o777, st.gid]).toEqual([0o660, GROUP]);
      expect(await client(path, NOBODY, GROUP, [])).toMatchObject({ connect: 'ok', replies: [PONG] });
      expect(await client(path, NOBODY, NOBODY, [GROUP])).toMatchObject({ connect: 'ok', replies: [PONG] });
      expect(await client(path, NOBODY, NOBODY, [])).toMatchObject({ connect: 'EACCES' });
      chmodSync(path, 0o666);
      expect(await client(path, NOBODY, NOBODY, [])).toMatchObject({ replies: [{ ok: false, error: { code: 'EPERM' } }] });
      expect(server.stats.deniedPeers).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('resolves group names and numbers, and names a group that does not exist', () => {
    expect(resolveGroup('root')).toEqual({ name: 'root', gid: 0 });
    expect(resolveGroup('4242')).toEqual({ name: '4242', gid: 4242 });
    expect(() => resolveGroup('no-such-group-tapvs')).toThrow(/--socket-group: no such group "no-such-group-tapvs"/);
  });
});
