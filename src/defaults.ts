/** Every limit, default and timeout in one place (Katran's kDefault* style). */

/** Default Unix socket of the control API. Overridden by --socket or TAPVS_SOCKET. */
export const DEFAULT_SOCKET_PATH = '/run/tapvs/tapvs.sock';
/** Environment variable that overrides the socket path for both the daemon and tapvsadm. */
export const SOCKET_ENV = 'TAPVS_SOCKET';

/** Largest control request accepted, in bytes (one NDJSON line). */
export const MAX_REQUEST_BYTES = 1 << 20;

/** Default scheduler, as ipvsadm. */
export const DEFAULT_SCHEDULER = 'wlc';
/** Default real weight, as ipvsadm. */
export const DEFAULT_WEIGHT = 1;
export const MAX_WEIGHT = 65535;

/** Capacity of the per-worker service and real slot tables (slots are global ids in snapshots). */
export const MAX_SERVICES = 1024;
export const MAX_REALS = 8192;

/** Default maximum connections per worker. */
export const DEFAULT_MAX_CONNS = 1 << 20;

/** Ring geometry: frames per batch and bytes per slot (headroom + largest frame we accept). */
export const DEFAULT_BATCH = 64;
export const RING_HEADROOM = 64;
export const RING_SLOT_SIZE = 2048;
/** Slot size with TAP offloads: a 64 KiB GSO super-frame, its virtio_net_hdr and the headroom. */
export const OFFLOAD_SLOT_SIZE = 65536 + 2 * RING_HEADROOM;
/** With offloads: slots (RING_SLOT_SIZE each) where GSO frames are cut into segments for TUN/FULLNAT. */
export const SEG_SLOTS = 128;
/** Extra tx slots per worker for frames the worker originates (ARP, ICMP). */
export const TX_EXTRA_SLOTS = 64;

/** Worker sleeps at most this long in poll() so timers run even when idle. */
export const WORKER_MAX_SLEEP_MS = 100;

/** ARP cache: entry lifetime, request retry interval, frames held per unresolved neighbour. */
export const ARP_ENTRY_TTL_MS = 60_000;
export const ARP_RETRY_MS = 1_000;
export const ARP_MAX_TRIES = 3;
export const ARP_HOLD_FRAMES = 4;
export const ARP_MAX_ENTRIES = 4096;

/** IPVS TCP/UDP state timeouts in seconds (mainline defaults, see ipvs-semantics.md §3.2). */
export const DEFAULT_TIMEOUTS = {
  NONE: 2,
  ESTABLISHED: 900,
  SYN_SENT: 120,
  SYN_RECV: 60,
  FIN_WAIT: 120,
  TIME_WAIT: 120,
  CLOSE: 10,
  CLOSE_WAIT: 60,
  LAST_ACK: 30,
  LISTEN: 120,
  SYNACK: 120,
  UDP: 300,
  ICMP: 60,
} as const;

/** The connection hash size ipvsadm prints in its banner (IPVS conn_tab_bits=12). */
export const IPVS_CONN_TAB_SIZE = 4096;
/** IPVS version printed by `-L` (IP_VS_VERSION_CODE 0x010201). */
export const IPVS_VERSION_STRING = '1.2.1';
