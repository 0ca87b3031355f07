/**
 * A real server failing in the middle of a transfer, through a NAT service (one real), and what the client sees
 * — the same as behind kernel IPVS, which has no health checks either:
 *  1. the server process dies during an upload: the real's kernel resets the connection, the RST passes the
 *     director (the conn goes to CLOSE) and the client gets ECONNRESET at once; a new connection is refused by
 *     the real's kernel (ECONNREFUSED), since the director still schedules to that real;
 *  2. the real disappears (its link goes down) during a download: nothing reaches the director any more, the
 *     conn expires by its state's timeout (ESTABLISHED, set to 3 s here with --set) and is gone;
 *  3. the real is removed from the service during a download, with --expire-nodest-conn: the client's next
 *     segment expires the conn and, having no conn, is answered with a RST (ECONNRESET) — under IPVS the first
 *     segment is dropped and its retransmission reset by the director's stack; without the option the
 *     segments are dropped (`real_unavailable`) until the conn times out (test/integration/persistence.test.ts).
 * The figures (how long each took) are printed; RELIABILITY.md documents them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, Testbed, e2eSkipReason, nsExec, sh, waitFor } from '../helpers/testbed.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';
const SVC = `${VIP}:80`;

/** A client script in the client namespace: its stdout lines as they come, and its last line as JSON. */
class Client {
  readonly lines: string[] = [];
  private readonly p: ChildProcess;
  private readonly exited: Promise<void>;
  constructor(bed: Testbed, script: string) {
    this.p = spawn('ip', ['netns', 'exec', bed.cli, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.p.stdout!.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        this.lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    this.exited = new Promise((r) => this.p.on('close', () => r()));
  }
  ready(): Promise<void> {
    return waitFor('client READY', () => this.lines.includes('READY') || this.p.exitCode !== null, 20_000);
  }
  async result(): Promise<any> {
    await this.exited;
    return JSON.parse(this.lines[this.lines.length - 1]!);
  }
  kill(): void {
    this.p.kill('SIGKILL');
  }
}

/** Downloads a huge body at about 10 MB/s; READY after 1 MB; ends with {what, got, at}. */
const download = `
  const http = require('node:http'); let got = 0, ready = false; const t0 = Date.now();
  const out = (what) => { console.log(JSON.stringify({ what, got, at: Date.now() })); process.exit(0); };
  const req = http.get({ host: '${VIP}', port: 80, path: '/?bytes=4000000000', agent: false }, (r) => {
    r.on('data', (d) => {
      got += d.length;
      if (!ready && got > 1 << 20) { ready = true; console.log('READY'); }
      const ahead = got / 10000 - (Date.now() - t0);
      if (ahead > 5) { r.pause(); setTimeout(() => r.resume(), ahead); }
    });
    r.on('aborted', () => out('aborted')); r.on('end', () => out('end')); r.on('error', (e) => out(e.code));
  });
  req.on('error', (e) => out(e.code));
  setTimeout(() => out('still open'), 30000);`;

/** Uploads a huge POST body in 16 KiB chunks every 5 ms; READY after 320 KiB; ends with {error, at}. */
const upload = `
  const s = require('node:net').connect(80, '${VIP}'); let error = null, sent = 0;
  s.on('connect', () => {
    s.write('POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 4000000000\\r\\n\\r\\n');
    const chunk = Buffer.alloc(16384, 117);
    const iv = setInterval(() => { s.write(chunk); sent += chunk.length; if (sent === 20 * 16384) console.log('READY'); }, 5);
    s.on('close', () => clearInterval(iv));
  });
  s.on('error', (e) => { error = e.code; });
  s.on('close', () => { console.log(JSON.stringify({ error, at: Date.now() })); process.exit(0); });
  setTimeout(() => { console.log(JSON.stringify({ error: 'still open', at: Date.now() })); process.exit(0); }, 20000);`;

/** One connection attempt; prints {error}. */
const connectOnce = `
  const s = require('node:net').connect(80, '${VIP}');
  s.on('connect', () => { console.log(JSON.stringify({ error: null })); process.exit(0); });
  s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(0); });
  setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(0); }, 10000);`;

describe.skipIf(skip !== null)(`a real server failing mid-transfer (NAT)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`tr${process.pid % 1000}`);
  const figures: Record<string, unknown> = {};
  const startR1 = async () => {
    bed.spawnIn(bed.r1, [process.execPath, join(ROOT, 'scripts/realserver.js'), '--name', 'r1']);
    await waitFor('real server in r1', () => /:0050 .* 0A /.test(nsExec(bed.r1, ['cat', '/proc/net/tcp'])));
  };
  const conn = async () => (await bed.api({ op: 'list-conns' })).conns as { state: string; source: string }[];

  beforeAll(async () => {
    bed.up();
    await startR1();
    await bed.startDaemon(['--expire-nodest-conn']);
    await bed.configure([['-A', '-t', SVC, '-s', 'rr'], ['-a', '-t', SVC, '-r', '198.18.1.11:80', '-m'], ['--set', '3', '3', '3']]);
  }, 60_000);

  afterAll(async () => {
    console.log(`real fault figures: ${JSON.stringify(figures)}`);
    await bed.teardown();
  });

  it('the server process dies during an upload: the client is reset at once, new connections refused', async () => {
    const c = new Client(bed, upload);
    await c.ready();
    const pids = sh('ip', ['netns', 'pids', bed.r1]).trim().split('\n').filter(Boolean).map(Number);
    const killedAt = Date.now();
    for (const pid of pids) process.kill(pid, 'SIGKILL'); // only the real server runs in this test's r1 namespace
    const r = await c.result();
    figures.processDeath = { clientError: r.error, msToError: r.at - killedAt };
    expect(r.error).toMatch(/^(ECONNRESET|EPIPE)$/);
    expect(r.at - killedAt).toBeLessThan(2000);
    expect((await conn()).map((x) => x.state)).toContain('CLOSE');
    const again = await new Client(bed, connectOnce).result();
    figures.processDeath = { ...(figures.processDeath as object), newConnection: again.error };
    expect(again.error).toBe('ECONNREFUSED');
    expect((await bed.api({ op: 'status' })).drops.real_unavailable).toBe(0);
  }, 60_000);

  it('the real disappears during a download: its conn expires by the ESTABLISHED timeout', async () => {
    await startR1();
    const c = new Client(bed, download);
    try {
      await c.ready();
      const before = (await conn()).filter((x) => x.state === 'ESTABLISHED').map((x) => x.source);
      expect(before.length).toBe(1);
      const downAt = Date.now();
      nsExec(bed.r1, ['ip', 'link', 'set', 'eth0', 'down']);
      await waitFor('the conn to expire', async () => !(await conn()).some((x) => x.source === before[0]), 15_000);
      const ms = Date.now() - downAt;
      figures.realGone = { msToExpiry: ms, establishedTimeoutS: 3 };
      expect(ms).toBeGreaterThan(2000);
      expect(ms).toBeLessThan(6000);
    } finally {
      c.kill();
      nsExec(bed.r1, ['ip', 'link', 'set', 'eth0', 'up']);
      nsExec(bed.r1, ['ip', 'route', 'replace', 'default', 'via', '198.18.1.1']);
    }
  }, 60_000);

  it('the real is removed during a download (expire_nodest_conn): the conn expires, the client is reset', async () => {
    const c = new Client(bed, download);
    await c.ready();
    const st0 = await bed.api({ op: 'status' });
    const removedAt = Date.now();
    expect((await bed.adm(['-d', '-t', SVC, '-r', '198.18.1.11:80'])).code).toBe(0);
    const r = await c.result();
    const st = await bed.api({ op: 'status' });
    const w = st.workers[0].counters;
    figures.realRemoved = {
      clientSaw: r.what, msToReset: r.at - removedAt,
      conns_nodest_expired: w.conns_nodest_expired - st0.workers[0].counters.conns_nodest_expired,
      tcp_rst_sent: w.tcp_rst_sent - st0.workers[0].counters.tcp_rst_sent,
    };
    expect(['ECONNRESET', 'aborted']).toContain(r.what);
    expect(r.at - removedAt).toBeLessThan(3000);
    expect(w.conns_nodest_expired).toBeGreaterThan(st0.workers[0].counters.conns_nodest_expired);
    expect(w.tcp_rst_sent).toBeGreaterThan(st0.workers[0].counters.tcp_rst_sent);
  }, 60_000);
});
