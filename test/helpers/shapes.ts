/**
 * The traffic shapes every forwarding method must carry end to end (a 1 MB body; 250 connections open at once,
 * all counted active while open, split evenly by rr over two reals), registered once for each method's suite.
 */
import { expect, it } from 'vitest';
import type { Testbed } from './testbed.js';

/** ipvsadm's Forward column name of each method. */
export type ForwardName = 'Masq' | 'Route' | 'Tunnel' | 'FullNat';

export function trafficShapeTests(bed: Testbed, vip: string, forward: ForwardName): void {
  it('delivers a 1 MB body', async () => {
    const r = await bed.node(bed.cli, `
      fetch('http://${vip}/?bytes=1048576').then(async (res) => {
        const b = Buffer.from(await res.arrayBuffer());
        console.log(JSON.stringify({ status: res.status, len: b.length, x: b.every((c) => c === 120), by: res.headers.get('x-served-by') }));
      })`, 60_000);
    expect(JSON.parse(r.stdout), r.stderr).toMatchObject({ status: 200, len: 1048576, x: true, by: expect.stringMatching(/^r[12]$/) });
  }, 90_000);

  it('holds 250 connections open at once, all counted active, and answers on every one', async () => {
    let activeWhileOpen = 0;
    const res = await bed.parallelHttp(bed.cli, vip, 80, 250, async () => {
      const l = await bed.adm(['-L', '-n', '-t', `${vip}:80`]);
      activeWhileOpen = l.stdout.split('\n').filter((x) => x.includes('->') && x.includes(forward))
        .reduce((s, x) => s + Number(x.trim().split(/\s+/)[4]), 0); // ActiveConn column
    });
    expect(res).toMatchObject({ connected: 250, ok: 250, failed: 0 });
    expect(res.byServer).toEqual({ r1: 125, r2: 125 });
    // Established conns are active in every method (DR/TUN: the client's ACK, INPUT-ONLY table).
    expect(activeWhileOpen).toBeGreaterThanOrEqual(250);
  }, 120_000);
}
