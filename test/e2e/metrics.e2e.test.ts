/**
 * End to end, as root: the daemon's Prometheus endpoint (default 127.0.0.1:9475, in the daemon's namespace)
 * scraped over HTTP after HTTP load through a NAT service; its per-real figures equal `tapvsadm -L -n --stats`,
 * and a UDP datagram to the VIP on a port without service shows as a `no_service` drop in both the scrape and
 * `tapvsadm --drops`. Skipped with the reason when not root or not built.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ROOT, Testbed, e2eSkipReason, nsExec, run, waitFor } from '../helpers/testbed.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';
const SVC = `tcp/${VIP}:80`;

/** Prometheus text → `name{labels}` (labels as written by prom-client) → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{.*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe.skipIf(skip !== null)(`metrics end to end over a real TAP${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`tm${process.pid % 1000}`);

  beforeAll(async () => {
    bed.up();
    await bed.startReals();
    await bed.startDaemon();
    await bed.configure([
      ['-A', '-t', `${VIP}:80`, '-s', 'rr'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.11:80', '-m', '-w', '2'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.12:80', '-m'],
    ]);
  }, 60_000);

  afterAll(async () => {
    await bed.teardown();
  });

  const scrape = async () => {
    const r = await bed.node(bed.lan, `fetch('http://127.0.0.1:9475/metrics').then(async (r) => process.stdout.write(r.status + '\\n' + await r.text()))`, 20_000);
    const [status, ...rest] = r.stdout.split('\n');
    expect(status, r.stderr + bed.daemonLog).toBe('200');
    return parse(rest.join('\n'));
  };

  it('serves /metrics on loopback in the daemon\'s namespace, with figures equal to -L -n --stats and --drops', async () => {
    // Listening on 127.0.0.1:9475 (0x2503) only.
    expect(nsExec(bed.lan, ['cat', '/proc/net/tcp'])).toMatch(/ 0100007F:2503 00000000:0000 0A /);

    const load = await run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httpload.js'), '--url', `http://${VIP}/`, '--n', '20', '--concurrency', '4', '--deadline', '30'], 40_000);
    expect(JSON.parse(load.stdout), load.stderr + bed.daemonLog).toMatchObject({ ok: 20, failed: 0 });

    const before = (await bed.status()).drops.no_service!;
    await bed.node(bed.cli, `const s = require('node:dgram').createSocket('udp4'); s.send('x', 9999, '${VIP}', () => s.close());`, 10_000);
    await waitFor('no_service drop', async () => (await bed.status()).drops.no_service! > before, 5_000);

    const m = await scrape();
    const stats = await bed.adm(['-L', '-n', '--stats', '--exact']);
    const list = await bed.adm(['-L', '-n']);
    expect(stats.code).toBe(0);
    expect(m.get('tapvs_up')).toBe(1);
    expect(m.get(`tapvs_service_connections_total{service="${SVC}"}`)).toBe(20);
    for (const [real, weight] of [['198.18.1.11:80', 2], ['198.18.1.12:80', 1]] as const) {
      const labels = `{service="${SVC}",real="${real}"}`;
      const row = stats.stdout.split('\n').find((l) => l.startsWith(`  -> ${real} `))!;
      const [conns, inpkts, outpkts, inbytes, outbytes] = row.trim().split(/\s+/).slice(2).map(Number);
      expect(conns).toBe(10); // rr: every other conn
      expect(inpkts).toBeGreaterThan(40);
      expect(m.get(`tapvs_real_connections_total${labels}`)).toBe(conns);
      expect(m.get(`tapvs_real_incoming_packets_total${labels}`)).toBe(inpkts);
      expect(m.get(`tapvs_real_outgoing_packets_total${labels}`)).toBe(outpkts);
      expect(m.get(`tapvs_real_incoming_bytes_total${labels}`)).toBe(inbytes);
      expect(m.get(`tapvs_real_outgoing_bytes_total${labels}`)).toBe(outbytes);
      const [, , , w, active, inactive] = list.stdout.split('\n').find((l) => l.startsWith(`  -> ${real} `))!.trim().split(/\s+/);
      expect(Number(w)).toBe(weight);
      expect(m.get(`tapvs_real_weight${labels}`)).toBe(weight);
      expect(m.get(`tapvs_real_connections_active${labels}`)).toBe(Number(active));
      expect(m.get(`tapvs_real_connections_inactive${labels}`)).toBe(Number(inactive));
    }

    const noService = m.get('tapvs_worker_drops_total{worker="0",reason="no_service"}');
    expect(noService).toBe(before + 1);
    const drops = await bed.adm(['--drops']);
    expect(drops.code, drops.stderr).toBe(0);
    expect(drops.stdout.split('\n')[0]).toMatch(/^Drop reason +Total +Worker 0$/);
    expect(drops.stdout).toMatch(new RegExp(`^no_service +${noService} +${noService}$`, 'm'));
    const json = JSON.parse((await bed.adm(['--drops', '--json'])).stdout);
    expect(json.total.no_service).toBe(noService);
    expect(json.workers[0].drops.no_service).toBe(noService);
    expect(m.get('tapvs_worker_alive{worker="0"}')).toBe(1);
    expect(m.get('tapvs_process_resident_memory_bytes')).toBeGreaterThan(0); // prom-client's process metrics
    expect(m.get('tapvs_worker_snapshot_version{worker="0"}')).toBe(m.get('tapvs_snapshot_version'));
  }, 60_000);
});
