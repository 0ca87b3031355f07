/**
 * tapvsadm -S / -R and `tapvs apply` against the real control thread behind a Unix socket (in-memory worker, no
 * root): a varied table saved, cleared and restored lists the same; `(-C; -S) | -R` is a no-op that keeps every
 * slot; a refused -R or apply changes nothing; apply --dry-run prints the plan and changes nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/tapvsadm.js';
import { applyFile, reloader } from '../../src/cli/apply-cmd.js';
import { Control } from '../../src/control/control.js';
import { ControlServer } from '../../src/control/server.js';
import { InlineWorker } from '../../src/control/workers.js';
import { MemoryIO } from '../../src/io/memory-io.js';
import { parseIPv4 } from '../../src/util/addr.js';

const dir = mkdtempSync(join(tmpdir(), 'tapvs-sr-'));
const sock = join(dir, 'tapvs.sock');
let server: ControlServer;
let control: Control;

async function adm(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, stdin: async () => stdin };
  const code = await main(['--socket', sock, ...args], io);
  return { code, out, err };
}

async function apply(text: string, dryRun = false): Promise<{ code: number; out: string; err: string }> {
  const file = join(dir, 'cfg.yaml');
  writeFileSync(file, text);
  let out = '';
  let err = '';
  const code = await applyFile(file, { dryRun, socket: sock }, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out: out.replaceAll(file, 'cfg.yaml'), err: err.replaceAll(file, 'cfg.yaml') };
}

const slots = () => JSON.stringify(control.table.list().map((s) => [s.slot, s.reals.map((r) => r.slot)]));

beforeAll(async () => {
  control = new Control({ mac: '02:00:00:00:00:01', addrs: [{ addr: parseIPv4('10.0.0.254'), prefix: 24 }, { addr: parseIPv4('192.168.10.1'), prefix: 24 }], gateway: 0, verifyL4: true });
  control.attach([new InlineWorker(0, new MemoryIO(), (m) => control.onWorkerMessage(m))]);
  server = new ControlServer(control, sock);
  await server.listen();
  for (const cmd of [
    ['-A', '-t', '10.0.0.1:80', '-s', 'wlc', '-p', '300', '-M', '255.255.255.0'],
    ['-a', '-t', '10.0.0.1:80', '-r', '192.168.10.2:8080', '-m', '-w', '3', '-x', '100', '-y', '10'],
    ['-a', '-t', '10.0.0.1:80', '-r', '192.168.10.9:8080', '-m', '-w', '0'],
    ['-A', '-t', '10.0.0.1:443', '-s', 'sh', '-b', 'sh-fallback,sh-port'],
    ['-a', '-t', '10.0.0.1:443', '-r', '192.168.10.3', '-g', '-w', '2'],
    ['-a', '-t', '10.0.0.1:443', '-r', '192.168.10.4', '-i'],
    ['-A', '-u', '10.0.0.1:53', '-s', 'maglev', '-b', 'mh-port', '--mh-table-size', '251'],
    ['-a', '-u', '10.0.0.1:53', '-r', '192.168.10.4', '-m'],
    ['-A', '-t', '10.0.0.2:80', '-s', 'rr', '--proxy-protocol', 'v1'],
    ['-P', '-t', '10.0.0.2:80', '-z', '192.168.10.200'],
    ['-a', '-t', '10.0.0.2:80', '-r', '192.168.10.5:8080', '--fullnat'],
    ['-A', '-t', '10.0.0.3:8080', '-s', 'lblcr', '-p'],
  ]) {
    const r = await adm(cmd);
    expect(r, cmd.join(' ')).toMatchObject({ code: 0, err: '' });
  }
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('tapvsadm -S | -R against the control thread', () => {
  it('save, clear, restore: -L -n, --thresholds and -G list the same', async () => {
    const listings = async () => Promise.all([['-L', '-n'], ['-L', '-n', '--thresholds'], ['-G']].map(async (a) => (await adm(a)).out));
    const before = await listings();
    const saved = await adm(['-S', '-n']);
    expect(saved.code).toBe(0);
    expect(saved.out).toBe(
      [
        '-A -t 10.0.0.1:80 -s wlc -p 300 -M 255.255.255.0',
        '-a -t 10.0.0.1:80 -r 192.168.10.2:8080 -m -w 3 -x 100 -y 10',
        '-a -t 10.0.0.1:80 -r 192.168.10.9:8080 -m -w 0',
        '-A -t 10.0.0.1:443 -s sh -b sh-fallback,sh-port',
        '-a -t 10.0.0.1:443 -r 192.168.10.3:443 -g -w 2',
        '-a -t 10.0.0.1:443 -r 192.168.10.4:443 -i -w 1 --tun-type ipip',
        '-A -t 10.0.0.2:80 -s rr --proxy-protocol v1',
        '-P -t 10.0.0.2:80 -z 192.168.10.200',
        '-a -t 10.0.0.2:80 -r 192.168.10.5:8080 --fullnat -w 1',
        '-A -t 10.0.0.3:8080 -s lblcr -p 360',
        '-A -u 10.0.0.1:53 -s mh -b mh-port --mh-table-size 251',
        '-a -u 10.0.0.1:53 -r 192.168.10.4:53 -m -w 1',
        '',
      ].join('\n'),
    );
    expect(await adm(['-C'])).toMatchObject({ code: 0 });
    expect((await adm(['-L', '-n'])).out).not.toContain('10.0.0.1');
    expect(await adm(['-R'], saved.out)).toMatchObject({ code: 0, out: '', err: '' });
    expect(await listings()).toEqual(before);
  });

  it('(-C; -S) | -R replaces the table with itself: nothing changes, every slot is kept', async () => {
    const before = slots();
    const version = control.status().version;
    const saved = (await adm(['-S', '-n'])).out;
    expect(await adm(['-R'], `-C\n${saved}`)).toMatchObject({ code: 0, err: '' });
    expect(slots()).toBe(before);
    expect(control.status().version).toBe(version);
  });

  it('a refused rule names its input line; the table is unchanged', async () => {
    const before = (await adm(['-L', '-n'])).out;
    const r = await adm(['-R'], '-D -t 10.0.0.3:8080\n-a -t 10.0.0.1:80 -r 192.168.10.2:8080 -m\n');
    expect(r).toMatchObject({ code: 255, err: 'line 2: Destination already exists\ntapvsadm: nothing restored (the table is unchanged)\n' });
    expect((await adm(['-L', '-n'])).out).toBe(before);
  });
});

describe('tapvs apply against the control thread', () => {
  const file = `services:
  - proto: tcp
    vip: 10.0.0.1:80
    scheduler: wrr
    persistence: { timeout: 300, netmask: 255.255.255.0 }
    reals:
      - { address: 192.168.10.2:8080, method: nat, weight: 4, u_threshold: 100, l_threshold: 10 }
`;

  it('--dry-run prints the plan and changes nothing', async () => {
    const before = (await adm(['-S', '-n'])).out;
    const r = await apply(file, true);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toBe(
      [
        '-D -t 10.0.0.1:443',
        '-D -t 10.0.0.2:80',
        '-D -t 10.0.0.3:8080',
        '-D -u 10.0.0.1:53',
        '-d -t 10.0.0.1:80 -r 192.168.10.9:8080',
        '-E -t 10.0.0.1:80 -s wrr -p 300 -M 255.255.255.0  # scheduler wlc -> wrr',
        '-e -t 10.0.0.1:80 -r 192.168.10.2:8080 -m -w 4 -x 100 -y 10  # weight 3 -> 4',
        'dry run: 7 changes, nothing applied',
        '',
      ].join('\n'),
    );
    expect((await adm(['-S', '-n'])).out).toBe(before);
  });

  it('a bad file is refused with every problem, exit 1, nothing sent', async () => {
    const version = control.status().version;
    const r = await apply(file.replace('weight: 4', 'wieght: 4').replace('wrr', 'wrl'));
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      [
        "cfg.yaml:4: services[0].scheduler: 'wrl' is not a scheduler: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, maglev — did you mean 'wrr'?",
        "cfg.yaml:7: services[0].reals[0]: unknown key 'wieght' — did you mean 'weight'?",
        'cfg.yaml: not applied (2 problems)',
        '',
      ].join('\n'),
    );
    expect(control.status().version).toBe(version);
  });

  it('a change the table refuses names the path, exit 1, nothing changed', async () => {
    const before = (await adm(['-S', '-n'])).out;
    const r = await apply(`${file}  - { proto: tcp, vip: 10.0.0.9:80, local_addresses: [172.16.0.1] }\n`);
    expect(r).toMatchObject({
      code: 1,
      out: '',
      err: 'cfg.yaml: services[1]: local address 172.16.0.1 is not on a connected prefix of the director (--addr); the real servers must reach it directly\ncfg.yaml: not applied (the running config is unchanged)\n',
    });
    expect((await adm(['-S', '-n'])).out).toBe(before);
  });

  it('applies, keeping the kept real\'s slot; again: no changes; no daemon: exit 2', async () => {
    const slot = control.table.find({ proto: 'tcp', vip: '10.0.0.1', vport: 80 })!.reals.find((r) => r.weight === 3)!.slot;
    const r = await apply(file);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^-D -t 10\.0\.0\.1:443\n[^]*\napplied: 7 changes \(config version \d+\)\n$/);
    expect(control.table.find({ proto: 'tcp', vip: '10.0.0.1', vport: 80 })!.reals.map((x) => [x.slot, x.weight])).toEqual([[slot, 4]]);
    expect(await apply(file)).toMatchObject({ code: 0, out: '(no changes)\n' });
    let err = '';
    const code = await applyFile(join(dir, 'cfg.yaml'), { socket: join(dir, 'nope.sock') }, { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) } });
    expect(code).toBe(2);
    expect(err).toContain('nope.sock');
  });
});

describe('the SIGHUP reloader', () => {
  it('re-applies the file; a broken file leaves the running config; signals during a reload coalesce', async () => {
    const cfg = join(dir, 'hup.yaml');
    const stderr = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write; // the reloader logs JSON lines
    try {
      writeFileSync(cfg, 'services:\n  - { proto: tcp, vip: 10.0.0.7:80, scheduler: rr }\n');
      const reload = reloader(control, cfg);
      await Promise.all([reload(), reload(), reload()]);
      expect((await adm(['-S', '-n'])).out).toBe('-A -t 10.0.0.7:80 -s rr\n');
      const version = control.status().version;
      writeFileSync(cfg, 'services:\n  - { proto: tcp, vip: 10.0.0.7:80, sheduler: wrr }\n');
      await reload();
      expect((await adm(['-S', '-n'])).out).toBe('-A -t 10.0.0.7:80 -s rr\n');
      expect(control.status().version).toBe(version);
      await reloader(control, undefined)();
      expect(control.status().version).toBe(version);
    } finally {
      process.stderr.write = stderr;
    }
  });
});
