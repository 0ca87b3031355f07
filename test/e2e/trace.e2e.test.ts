/**
 * End to end, as root: `tapvs trace` against a daemon in the namespace test bed while HTTP requests flow
 * (conn new → scheduled real with the NAT rewrite, then conn hits), and for a SYN to a VIP port without a
 * service (the drop reason no_service). Skipped with the reason when not root or not built.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, Testbed, e2eSkipReason, waitFor } from '../helpers/testbed.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';
const CIP = '198.18.0.2';

describe.skipIf(skip !== null)(`tapvs trace end to end${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`ttr${process.pid % 1000}`);

  beforeAll(async () => {
    bed.up();
    await bed.startReals();
    await bed.startDaemon();
    await bed.configure([
      ['-A', '-t', `${VIP}:80`, '-s', 'rr'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.11:80', '-m'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.12:80', '-m'],
    ]);
  }, 60_000);

  afterAll(async () => {
    await bed.teardown();
  });

  /** Runs `tapvs trace ARGS`; once it reports that it traces, runs `traffic`; resolves with its output. */
  async function trace(args: string[], traffic: () => Promise<unknown>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const p = spawn(process.execPath, [join(ROOT, 'bin/tapvs.js'), 'trace', '--socket', bed.socket, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    try {
      await waitFor('trace started', () => stderr.includes('tracing') || p.exitCode !== null, 10_000);
      await traffic();
      const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
      return { code, stdout, stderr };
    } finally {
      if (p.exitCode === null) p.kill('SIGKILL');
    }
  }

  it('shows the decision path of HTTP requests: conn new → real with the NAT rewrite, then hits', async () => {
    const r = await trace(['--src', CIP, '--dst', `${VIP}:80`, '--count', '4', '--seconds', '8', '--json'], () =>
      bed.node(bed.cli, `fetch('http://${VIP}/').then(r=>r.text()).then(t=>process.stdout.write(t))`, 10_000));
    expect(r.code, r.stderr + bed.daemonLog).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(5);
    const [first, ...rest] = lines.slice(0, 4);
    expect(first).toMatchObject({ worker: 0, proto: 'tcp', dst: `${VIP}:80`, conn: 'new', method: 'nat', result: 'forwarded', tx: 1 });
    expect(first.real).toMatch(/^198\.18\.1\.1[12]:80$/);
    expect(first.out).toMatchObject({ proto: 'tcp', src: first.src, dst: first.real });
    for (const x of rest) expect(x).toMatchObject({ src: first.src, conn: 'hit', real: first.real, result: 'forwarded', out: { dst: first.real } });
    expect(lines[4]).toMatchObject({ done: true, delivered: 4, lost: 0, reason: 'count' });
  }, 20_000);

  it('names the drop reason of a SYN to a VIP port without a service', async () => {
    const r = await trace(['--src', CIP, '--dst', `${VIP}:81`, '--count', '1', '--seconds', '8'], () =>
      bed.node(bed.cli, `require('net').connect(81, '${VIP}').on('error', () => {}); setTimeout(() => process.exit(0), 500)`, 10_000));
    expect(r.code, r.stderr).toBe(0);
    // Dropped, and answered with a RST from the VIP (what the director's own stack answers under IPVS).
    const ip = (a: string) => a.replace(/\./g, '\\.');
    expect(r.stdout).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} w0 tcp ${ip(CIP)}:\\d+ > ${ip(VIP)}:81 \\| conn none \\| DROP no_service \\| out tcp ${ip(VIP)}:81 > ${ip(CIP)}:\\d+ to \\S+\\n$`));
    expect(r.stderr).toMatch(/1 packet traced, 0 lost \(ring full\), ended by count/);
  }, 20_000);
});
