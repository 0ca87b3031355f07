/**
 * `tapvs`: the daemon and its subcommands. `tapvs run` starts a director on a TAP device; `tapvs decap` runs the
 * userspace IPIP decapsulator on a real server of a TUN (-i) service.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { availableParallelism } from 'node:os';
import { resolveSocketPath } from '../control/client.js';
import { resolveGroup } from '../control/peer.js';
import { DEFAULT_MTU, MAX_MTU, MIN_MTU } from '../config/snapshot.js';
import { startDaemon } from '../daemon.js';
import { DEFAULT_DECAP_BATCH } from '../decap/decap.js';
import { runDecap } from '../decap/run.js';
import { LbError } from '../errors.js';
import { parseCidr, parseIPv4, parseMac } from '../util/addr.js';
import { log } from '../util/log.js';
import { loadConfigFile } from '../config/file.js';
import { applyFile, logPlan, reloader } from './apply-cmd.js';
import { runTrace } from './trace-cmd.js';
import { DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT } from '../control/metrics.js';

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

function ipv4List(v: string, prev: number[]): number[] {
  return [...prev, ipv4(v)];
}

function intIn(min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    return Number(v);
  };
}

/** `MIN-MAX`, a port range inside 1..65535. */
function portRange(v: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(v);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!(lo >= 1 && hi <= 65535 && lo <= hi)) throw new InvalidArgumentError(`expected MIN-MAX with 1 <= MIN <= MAX <= 65535, got "${v}"`);
  return [lo, hi];
}

/** `HOST:PORT` (`:PORT` = loopback) for --metrics; port 0 takes any free port. */
export function listenAddr(v: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`expected ADDR:PORT such as 127.0.0.1:${DEFAULT_METRICS_PORT}, got "${v}"`);
  return { host: m[1] ?? (m[2] || DEFAULT_METRICS_HOST), port };
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
    .option('--workers <n>', 'worker threads, one TAP queue each; the kernel steers every flow to one worker (default: the number of CPUs)', posInt(256), availableParallelism())
    .option('--socket <path>', 'control socket path (env TAPVS_SOCKET; default /run/tapvs/tapvs.sock)')
    .option('--socket-group <group>', 'also let this group (name or gid) use the control socket: mode 0660 instead of 0600')
    .option('--max-conns <n>', 'connection table size per worker', posInt(1 << 26), 1 << 20)
    .option('--batch <n>', 'frames per rx/tx batch', posInt(1024), 64)
    .option('--expire-nodest-conn', 'a packet of a connection whose real was removed expires it (a SYN then starts a new one), as net.ipv4.vs.expire_nodest_conn=1; default: such packets are dropped until the connection times out')
    .option('--expire-quiescent-template', 'persistence templates whose real has weight 0 are not reused (net.ipv4.vs.expire_quiescent_template=1)')
    .option('--no-offload', 'no TAP offloads: the kernel checksums and segments every frame before the TAP (IFF_VNET_HDR with TUNSETOFFLOAD CSUM|TSO4 lets TCP GSO super-frames through NAT and DR whole)')
    .option('--no-io-uring', 'one read()/write() syscall per frame instead of one io_uring_enter() per batch')
    .option('--no-verify-checksums', 'do not verify TCP/UDP checksums of received segments')
    .addOption(new Option('--lport-range <min-max>', 'FULLNAT local ports; worker w of W uses the ports p with p % W === w').argParser(portRange).default([1025, 65535], '1025-65535'))
    .option('--mtu <bytes>', `MTU of the TAP segment; TUN (-i) packets carry 20 more bytes, so the tunnel MTU is this - 20`, intIn(MIN_MTU, MAX_MTU), DEFAULT_MTU)
    .addOption(new Option('--metrics <addr:port>', 'serve Prometheus metrics on http://ADDR:PORT/metrics (0.0.0.0:PORT exposes them to the network)')
      .argParser(listenAddr).default({ host: DEFAULT_METRICS_HOST, port: DEFAULT_METRICS_PORT }, `${DEFAULT_METRICS_HOST}:${DEFAULT_METRICS_PORT}`))
    .option('--no-metrics', 'no metrics server')
    .option('--config <file>', 'declarative config (YAML/JSON, see examples/tapvs.yaml) applied before any traffic is served; SIGHUP re-reads and re-applies it')
    .addHelpText(
      'after',
      `
The director is an L2 host on the TAP's segment: it answers ARP for --addr addresses and for every VIP, and
resolves real servers and the gateway by ARP. Bridge the TAP into the LAN (or a test bridge):
  ip tuntap add tapvs0 mode tap && ip link set tapvs0 master br0 up
  tapvs run --tap tapvs0 --addr 10.0.0.1/24 --addr 10.0.1.1/24 --socket /run/tapvs/tapvs.sock
  tapvsadm -A -t 10.0.0.100:80 -s rr && tapvsadm -a -t 10.0.0.100:80 -r 10.0.1.11:80 -m
For NAT (-m), real servers route replies through a director address (their default gateway).
For DR (-g) and TUN (-i), real servers answer clients directly: the VIP sits on their lo with ARP suppressed
(arp_ignore=1, arp_announce=2), their default route is the site router, not the director. TUN reals
decapsulate IPIP (kernel ipip module, or \`tapvs decap\`). A TUN packet longer than --mtu - 20 with DF set is
dropped and the client gets ICMP "fragmentation needed" with that MTU; without DF it is sent as outer
fragments (the real reassembles).
For FULLNAT (--fullnat), real servers talk to a local address of the service (tapvsadm -P -t VIP:PORT -z LIP,
on a connected prefix; the director answers ARP for it) and need no route through the director; each worker
takes its local ports from --lport-range.`,
    )
    .action(async (opts) => {
      if (opts.mac !== undefined && !parseMac(opts.mac)) throw new InvalidArgumentError(`--mac: expected aa:bb:cc:dd:ee:ff`);
      const config = opts.config === undefined ? undefined : loadConfigFile(opts.config);
      const daemon = await startDaemon({
        tap: opts.tap, workers: opts.workers, addrs: opts.addr, gateway: opts.gateway ?? 0, mac: opts.mac,
        policy: { expireNodestConn: opts.expireNodestConn === true, expireQuiescentTemplate: opts.expireQuiescentTemplate === true },
        socket: resolveSocketPath(opts.socket), maxConns: opts.maxConns, batch: opts.batch, verifyL4: opts.verifyChecksums,
        uring: opts.ioUring, offload: opts.offload,
        mtu: opts.mtu, lportRange: opts.lportRange, config, ...(opts.metrics ? { metrics: opts.metrics } : {}),
        socketGroup: opts.socketGroup === undefined ? null : resolveGroup(opts.socketGroup),
      });
      if (daemon.configApplied) {
        log('info', 'config applied', { file: opts.config, changes: daemon.configApplied.plan.length, version: daemon.configApplied.version, plan: logPlan(daemon.configApplied) });
      }
      const reload = reloader(daemon.control, opts.config);
      process.on('SIGHUP', () => void reload());
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
  program
    .command('apply')
    .description('apply a declarative config file to the running daemon: check all of it, print the plan, apply it as one change')
    .argument('<file>', 'YAML or JSON config file (see examples/tapvs.yaml)')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--socket <path>', 'control socket path (env TAPVS_SOCKET; default /run/tapvs/tapvs.sock)')
    .addHelpText(
      'after',
      `
The file describes the whole configuration: services and reals it does not list are removed. Every field of a
kept service or real (scheduler, flags, persistence, weights, thresholds, method, local addresses, client-ip
mode, health check, timeouts) is edited in place, so its connections and counters stay. The plan is printed
with ipvsadm's words (-A/-E/-D, -a/-e/-d, --set; "health" for health checks). Exit status: 0 applied (or dry
run), 1 the file or a change was refused (nothing changed), 2 the daemon is not reachable.`,
    )
    .action(async (file: string, opts) => {
      process.exitCode = await applyFile(file, { dryRun: opts.dryRun === true, socket: resolveSocketPath(opts.socket) }, process);
    });
  program
    .command('trace')
    .description('show the decision path of matching packets in the running daemon: worker, conn hit/new, real, method, rewritten headers or drop reason')
    .requiredOption('--src <ip[:port]>', 'client address (and port) of the packets to trace')
    .requiredOption('--dst <vip:port>', 'virtual address and port they are sent to')
    .addOption(new Option('--proto <proto>', 'only this protocol').choices(['tcp', 'udp']))
    .option('--count <n>', 'stop after this many packets', posInt(10_000), 20)
    .option('--seconds <s>', 'stop after this many seconds', posInt(3600), 10)
    .option('--json', 'one JSON object per packet (NDJSON), then a summary line {"done": true, ...}')
    .option('--socket <path>', 'control socket path (env TAPVS_SOCKET; default /run/tapvs/tapvs.sock)')
    .addHelpText(
      'after',
      `
Only packets from the client towards the VIP are traced (replies are not). Each worker writes a fixed-size
record per matching packet into a ring the daemon reads; a packet arriving while its worker's ring is full is
counted as lost. One trace runs at a time. Exit status: 0 done, 1 refused (bad filter, another trace running),
2 the daemon is not reachable.`,
    )
    .action(async (opts) => {
      const interrupted = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      process.exitCode = await runTrace(
        { src: opts.src, dst: opts.dst, proto: opts.proto, count: opts.count, seconds: opts.seconds, json: opts.json === true, socket: resolveSocketPath(opts.socket) },
        { stdout: process.stdout, stderr: process.stderr, interrupted },
      );
      process.exit();
    });
  program
    .command('decap')
    .description('decapsulate IPIP on a real server of a TUN (-i) service whose kernel has no ipip module')
    .requiredOption('--tun <name>', 'TUN device the inner packets are handed to (create it first: ip tuntap add NAME mode tun)')
    .addOption(new Option('--vip <ip>', 'accept only inner packets to this VIP (repeatable)').argParser(ipv4List).default([], 'any destination'))
    .addOption(new Option('--director <ip>', 'accept only IPIP from this director address (repeatable)').argParser(ipv4List).default([], 'any source'))
    .option('--batch <n>', 'datagrams per receive batch', posInt(1024), DEFAULT_DECAP_BATCH)
    .addHelpText(
      'after',
      `
tapvs decap reads every IPIP datagram (IP protocol 4) addressed to this host from a raw socket, checks it, and
writes the inner packet to a TUN device; the kernel then receives it as if it had arrived there and delivers it
to the service listening on the VIP. Replies leave by the normal route, straight to the client (DSR).

Set-up on the real server (as root; VIP 10.0.0.100 as an example):
  ip tuntap add tvsdecap mode tun            # the TUN device (persistent)
  ip link set tvsdecap up
  ip addr add 10.0.0.100/32 dev lo           # the VIP is a local address, answered by nobody on the LAN
  sysctl -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tvsdecap.rp_filter=0
                                             # inner packets come from clients routed via another device
  sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
                                             # (also on the LAN interface) never answer ARP for the VIP
  tapvs decap --tun tvsdecap --vip 10.0.0.100 --director 10.0.1.1
The real's default route must reach clients without the director. The tunnel MTU is the director's --mtu - 20;
clients learn it by PMTU discovery (the director answers DF packets that do not fit with ICMP "fragmentation
needed"), or have the real advertise a smaller MSS: ip route change default via GW advmss 1440.

Counters (decapsulated, and dropped by reason) are logged as JSON on stderr on SIGUSR2 and at exit.`,
    )
    .action(async (opts) => {
      await runDecap({ tun: opts.tun, vips: opts.vip, directors: opts.director, batch: opts.batch });
      process.exit(0);
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
