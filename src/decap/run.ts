/**
 * Running `tapvs decap` on a real server: checks the host set-up (and says what to type when it is wrong),
 * opens the raw IPIP socket and the TUN device, and runs the Decap loop on the main thread until SIGINT or
 * SIGTERM. The loop drains batches while datagrams are ready, then sleeps in poll() on the socket for at most
 * IDLE_WAIT_MS and yields to the event loop so signals are handled. SIGUSR2 (and exit) logs the counters.
 */
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { LbError } from '../errors.js';
import { checkNative, native, TAP_TUN } from '../io/native.js';
import { TapIO } from '../io/tap-io.js';
import { formatIPv4 } from '../util/addr.js';
import { log } from '../util/log.js';
import { Decap } from './decap.js';

const IDLE_WAIT_MS = 100;
const BUSY_BATCHES = 256;
const IFF_UP = 0x1;
const IFF_TUN = 0x1;
const PROTO_IPIP = 4;

export interface DecapRunOptions {
  /** TUN device the inner packets are written to (must exist and be up). */
  tun: string;
  /** Accept only these inner destinations (unsigned 32-bit); empty = any. */
  vips: number[];
  /** Accept only these outer sources; empty = any. */
  directors: number[];
  batch?: number;
}

function readSys(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Local IPv4 addresses of this namespace, from `ip -4 -o addr` (null if `ip` is not available). */
function localAddrs(): Set<string> | null {
  try {
    const out = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return new Set([...out.matchAll(/\binet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!));
  } catch {
    return null;
  }
}

/**
 * Checks the real server's set-up for `tapvs decap`. Errors make it refuse to start; warnings are logged.
 * Each message carries the command that fixes it.
 */
export function preflight(o: Pick<DecapRunOptions, 'tun' | 'vips'>): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const dev = `/sys/class/net/${o.tun}`;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(o.tun)) {
    errors.push(`--tun ${JSON.stringify(o.tun)}: not a valid interface name`);
    return { errors, warnings };
  }
  if (!existsSync(dev)) {
    errors.push(`TUN device ${o.tun} does not exist: ip tuntap add ${o.tun} mode tun && ip link set ${o.tun} up`);
    return { errors, warnings };
  }
  const tunFlags = readSys(`${dev}/tun_flags`);
  if (tunFlags === null || (Number(tunFlags) & IFF_TUN) === 0) {
    errors.push(`${o.tun} is not a TUN device (mode tun): ip link del ${o.tun} && ip tuntap add ${o.tun} mode tun`);
  }
  if ((Number(readSys(`${dev}/flags`) ?? '0') & IFF_UP) === 0) errors.push(`${o.tun} is down: ip link set ${o.tun} up`);
  const rpAll = Number(readSys('/proc/sys/net/ipv4/conf/all/rp_filter') ?? '0');
  const rpDev = Number(readSys(`/proc/sys/net/ipv4/conf/${o.tun}/rp_filter`) ?? '0');
  if (Math.max(rpAll, rpDev) === 1) {
    warnings.push(
      `strict reverse-path filtering drops inner packets (their source, the client, is routed via another device): ` +
        `sysctl -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.${o.tun}.rp_filter=0`,
    );
  }
  if (existsSync('/sys/class/net/tunl0')) {
    warnings.push('this kernel decapsulates IPIP itself (tunl0 exists): use the ipip module or tapvs decap, not both');
  }
  const local = localAddrs();
  if (local) {
    for (const v of o.vips.map(formatIPv4)) {
      if (!local.has(v)) warnings.push(`VIP ${v} is not a local address, the kernel will not accept it: ip addr add ${v}/32 dev lo`);
    }
  }
  if (Number(readSys('/proc/sys/net/ipv4/conf/all/arp_ignore') ?? '0') < 1) {
    warnings.push(
      'if this host shares a segment with the director, it must not answer ARP for the VIP: ' +
        'sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2',
    );
  }
  return { errors, warnings };
}

/** Runs the decapsulator until SIGINT/SIGTERM. Resolves after it stopped and closed its fds. */
export async function runDecap(o: DecapRunOptions): Promise<void> {
  const { errors, warnings } = preflight(o);
  for (const w of warnings) log('warn', w);
  if (errors.length > 0) throw new LbError('EINVAL', errors.join('; '));
  const rawFd = checkNative(native.openRawIp(PROTO_IPIP), 'raw IPIP socket');
  let tunFd = -1;
  try {
    tunFd = checkNative(native.openTap(o.tun, TAP_TUN), `open TUN ${o.tun}`);
  } catch (err) {
    native.closeFd(rawFd);
    throw err;
  }
  const rx = new TapIO(rawFd, -1, 'ipip');
  const tx = new TapIO(tunFd, -1, o.tun);
  const decap = new Decap({ rx, tx, vips: o.vips, directors: o.directors, batch: o.batch });
  let stopping = false;
  const report = (msg: string) => log('info', msg, { tun: o.tun, counters: decap.snapshot() });
  const onStop = () => (stopping = true);
  const onReport = () => report('decap counters');
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  process.on('SIGUSR2', onReport);
  log('info', 'tapvs decap running', {
    tun: o.tun, vips: o.vips.map(formatIPv4), directors: o.directors.map(formatIPv4), batch: decap.batch,
  });
  let lastErr = 0;
  try {
    while (!stopping) {
      let n = 0;
      for (let turns = 0; turns < BUSY_BATCHES; turns++) {
        n = decap.step();
        if (n <= 0) break;
      }
      if (n < 0 && n !== lastErr) log('error', 'reading the raw IPIP socket failed', { errno: -n });
      lastErr = n < 0 ? n : 0;
      if (n <= 0) rx.wait(IDLE_WAIT_MS);
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    process.off('SIGINT', onStop);
    process.off('SIGTERM', onStop);
    process.off('SIGUSR2', onReport);
    report('tapvs decap stopped');
    rx.close();
    tx.close();
  }
}
