/**
 * `tapvs`: the daemon and its subcommands. `tapvs run` starts a director on a TAP device.
 */
import { Command, InvalidArgumentError } from 'commander';
import { availableParallelism } from 'node:os';
import { resolveSocketPath } from '../control/client.js';
import { startDaemon } from '../daemon.js';
import { LbError } from '../errors.js';
import { parseCidr, parseIPv4, parseMac } from '../util/addr.js';
import { log } from '../util/log.js';

function cidr(v: string, prev: { addr: number; prefix: number }[]) {
  const c = parseCidr(v);
  if (!c) throw new InvalidArgumentError(`expected IPv4/prefix such as 10.0.1.1/24, got "${v}"`);
  return [...prev, c];
}

function ipv4(v: string): number {
  const a = parseIPv4(v);
  if (a < 0) throw new InvalidArgumentError(`expected an IPv4 address, got "${v}"`);
  return a;
}

function posInt(max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new InvalidArgumentError(`expected an integer in 1..${max}`);
    return Number(v);
  };
}

export function buildProgram(): Command {
  const program = new Command('tapvs')
    .description('tapvs: an LVS/IPVS director in user space, on TAP devices. Configure it with tapvsadm.')
    .showHelpAfterError();
  program
    .command('run')
    .description('run the director daemon in the foreground')
    .requiredOption('--tap <name>', 'TAP device to attach to (created if absent; create it beforehand with `ip tuntap add NAME mode tap` to bridge it)')
    .option('--addr <ip/prefix>', 'an address the director owns on the TAP segment, with its connected prefix (repeatable); VIPs are added by tapvsadm', cidr, [])
    .option('--gateway <ip>', 'next hop for destinations outside the connected prefixes', ipv4)
    .option('--mac <mac>', 'the director\'s MAC on the segment (default: derived from the TAP name)')
    .option('--workers <n>', `worker threads, one TAP queue each (this version: 1; multi-queue steering comes with connection pinning)`, posInt(256), 1)
    .option('--socket <path>', 'control socket path (env TAPVS_SOCKET; default /run/tapvs/tapvs.sock)')
    .option('--max-conns <n>', 'connection table size per worker', posInt(1 << 26), 1 << 20)
    .option('--batch <n>', 'frames per rx/tx batch', posInt(1024), 64)
    .option('--no-verify-checksums', 'do not verify TCP/UDP checksums of received segments')
    .addHelpText(
      'after',
      `
The director is an L2 host on the TAP's segment: it answers ARP for --addr addresses and for every VIP, and
resolves real servers and the gateway by ARP. Bridge the TAP into the LAN (or a test bridge):
  ip tuntap add tapvs0 mode tap && ip link set tapvs0 master br0 up
  tapvs run --tap tapvs0 --addr 10.0.0.1/24 --addr 10.0.1.1/24 --socket /run/tapvs/tapvs.sock
  tapvsadm -A -t 10.0.0.100:80 -s rr && tapvsadm -a -t 10.0.0.100:80 -r 10.0.1.11:80 -m
For NAT (-m), real servers route replies through a director address (their default gateway).`,
    )
    .action(async (opts) => {
      if (opts.mac !== undefined && !parseMac(opts.mac)) throw new InvalidArgumentError(`--mac: expected aa:bb:cc:dd:ee:ff`);
      if (opts.workers > 1) {
        throw new LbError('EINVAL', '--workers > 1 needs per-worker flow steering, which this version does not have yet');
      }
      const daemon = await startDaemon({
        tap: opts.tap, workers: opts.workers, addrs: opts.addr, gateway: opts.gateway ?? 0, mac: opts.mac,
        socket: resolveSocketPath(opts.socket), maxConns: opts.maxConns, batch: opts.batch, verifyL4: opts.verifyChecksums,
      });
      let stopping = false;
      const stop = async (sig: string) => {
        if (stopping) return;
        stopping = true;
        log('info', 'stopping', { signal: sig });
        await daemon.stop();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
    });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
  } catch (err) {
    process.stderr.write(`tapvs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
