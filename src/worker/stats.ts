/**
 * Per-worker counters in a SharedArrayBuffer: the worker is the only writer of its block, the control thread
 * reads every worker's block to answer `-L --stats`, `status` and metrics. Plain (non-atomic) Float64 stores:
 * aligned 8-byte writes are not torn on x86-64/arm64, and integers stay exact up to 2^53.
 * Zeroing (-Z) never writes here: the control thread keeps baselines and subtracts.
 */
import { MAX_REALS, MAX_SERVICES } from '../defaults.js';

/** Named drop reasons. Every packet the worker does not transmit increments exactly one of these. */
export const DROP_REASONS = [
  'rx_truncated', // frame shorter than its headers say, or longer than a ring slot
  'eth_not_for_us', // unicast frame to another MAC (flooded by a bridge)
  'eth_unknown_type', // EtherType we do not handle (IPv6, LLDP, ...)
  'eth_vlan', // 802.1Q/802.1ad tagged frame: VLANs are not supported on this interface
  'arp_malformed',
  'arp_not_for_us', // ARP request for an address we do not own
  'ipv4_bad_header', // version != 4, IHL < 5, total length inconsistent with the frame
  'ipv4_bad_checksum',
  'ipv4_options', // IHL > 5: IP options are not forwarded
  'ipv4_fragment', // fragments are not reassembled (IPVS reassembles; see README)
  'ipv4_ttl_expired',
  'ipv4_too_big', // packet to forward longer than the segment MTU (--mtu; TUN: see tun_too_big); DF: ICMP frag-needed sent
  'ipv4_not_for_us', // destination neither a VIP, a director address, nor a NAT reply
  'l4_truncated', // TCP/UDP/ICMP header does not fit
  'l4_bad_checksum',
  'l4_unsupported', // IP protocol other than TCP/UDP/ICMP
  'no_service', // TCP/UDP to an owned address with no virtual service on that port (TCP: answered with RST)
  'tcp_no_conn', // non-SYN TCP segment (or SYN+RST) with no connection: not a valid first packet (answered with RST)
  'sched_no_real', // scheduler found no available real (all quiescent/overloaded)
  'conn_table_full',
  'reply_no_conn', // packet from a real-server subnet towards a client with no NAT connection
  'real_unavailable', // client packet of a conn whose real was removed (expire_nodest_conn=0; its replies still pass, as in IPVS)
  'icmp_unhandled', // ICMP that is neither echo to us nor an error about a known conn
  'icmp_not_sent', // an ICMP error about a TUN conn not passed on to its client: rate limit, or a client that must not get one
  'no_route', // next hop not on a connected subnet and no gateway configured
  'neigh_unresolved', // frame held for ARP resolution expired or hold queue full
  'tx_failed', // the TAP queue refused the frame (full or error)
  'tun_too_big', // TUN: DF set and longer than the tunnel MTU (mtu - 20): ICMP frag-needed sent to the client
  'tx_no_slot', // no free extra slot for a frame the worker had to originate (an outer fragment)
  'dr_real_not_on_link', // DR real not on a connected prefix: the gateway would route the VIP back to us
  'laddr_exhausted', // FULLNAT: every local port of the service's LIPs is in use or waiting out TIME_WAIT
  'proxy_no_room', // FULLNAT UDP with PROXY v2: the datagram plus the 28-byte header does not fit the MTU
  'gso_unsupported', // offload: a GSO frame other than TCPv4, or a virtio_net_hdr that does not match the frame
  'orphan_reset', // client packet of a conn whose real left at a drain deadline with `reset` (answered with RST / ICMP)
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Named event counters (not drops). */
export const COUNTERS = [
  'rx_frames',
  'rx_bytes',
  'tx_frames',
  'rx_batches',
  'wakeups',
  'arp_requests_sent',
  'arp_replies_sent',
  'arp_replies_received',
  'icmp_echo_replied',
  'conns_created',
  'conns_expired',
  'frames_held',
  'frames_released',
  'snapshots_applied',
  'wrong_worker', // a packet whose flow the steering program assigns to another worker (must stay 0)
  'templates_invalidated', // persistence templates whose real left the service (or was quiesced)
  'conns_reused', // SYNs that replaced a TIME_WAIT/CLOSE conn of the same tuple (conn_reuse_mode 1)
  'conns_nodest_expired', // conns expired because their real was removed (expire_nodest_conn)
  'icmp_frag_needed_sent', // ICMP type 3 code 4 sent to a client (TUN packet over the tunnel MTU with DF)
  'icmp_errors_suppressed', // ICMP error not sent: rate limit, no free slot, or the packet must not get one
  'tun_fragmented', // TUN packets without DF over the tunnel MTU, sent as outer IPv4 fragments
  'toa_inserted', // FULLNAT: TOA option (kind 254) added to a client segment
  'toa_no_room', // FULLNAT: a segment that should carry TOA had no option room or would exceed the MTU (sent without)
  'proxy_inserted', // FULLNAT: PROXY protocol header sent (TCP: in a segment at the stream start; UDP: per datagram)
  'proxy_data_deferred', // FULLNAT TCP: the first data did not fit next to the header; header sent alone, data left to the client's retransmission
  'tcp_ts_stripped', // FULLNAT: timestamp option of a client SYN overwritten with NOPs
  'mss_clamped', // FULLNAT: MSS of a real's SYN-ACK lowered so client segments plus TOA/PROXY fit the MTU
  'icmp_translated', // ICMP error about a NAT/FULLNAT conn rewritten (outer + quoted headers) and forwarded
  'icmp_forwarded', // ICMP error about a DR/TUN conn forwarded unchanged with the conn's method
  'icmp_unreach_sent', // ICMP port unreachable sent to a client: no real available (IPVS ip_vs_leave)
  'csum_completed', // offload: a partial (NEEDS_CSUM) TCP/UDP checksum completed before forwarding
  'gso_passed', // offload: a TCP GSO super-frame forwarded whole (NAT, DR), its virtio_net_hdr rewritten
  'gso_segmented', // offload: a TCP GSO super-frame cut into MSS-sized segments (TUN, FULLNAT)
  'orphan_resets_sent', // TCP RST (UDP: ICMP port unreachable) sent for an `orphan_reset` packet
  'tcp_rst_sent', // RST sent for a TCP segment to an owned address with no conn or no service (the kernel's answer under IPVS)
  'synflood_on', // the SYN flood defence switched on (table under pressure from half-open conns)
  'synflood_evicted', // half-open conns evicted, oldest first, to make room for new conns under the defence
] as const;
export type CounterName = (typeof COUNTERS)[number];

const idx = <T extends string>(names: readonly T[], base: number) =>
  Object.fromEntries(names.map((n, i) => [n, base + i])) as Record<T, number>;

/** Header slots. */
export const H_VERSION = 0; // snapshot version applied
export const H_HEARTBEAT = 1; // Date.now() of the last loop iteration
export const H_CONNS = 2; // live connection entries
export const H_SYNFLOOD = 3; // SYN flood defence: 1 while on (synflood.ts)
export const H_HALF_OPEN = 4; // half-open (SYN_RECV, SYNACK) conns
const HDR = 5;

export const C = idx(COUNTERS, HDR);
export const D = idx(DROP_REASONS, HDR + COUNTERS.length);

/** Per-service and per-real stat fields. */
export const SF_CONNS = 0;
export const SF_INPKTS = 1;
export const SF_OUTPKTS = 2;
export const SF_INBYTES = 3;
export const SF_OUTBYTES = 4;
export const STAT_FIELDS = 5;

export const SVC_BASE = HDR + COUNTERS.length + DROP_REASONS.length;
export const REAL_BASE = SVC_BASE + MAX_SERVICES * STAT_FIELDS;
export const F64_LEN = REAL_BASE + MAX_REALS * STAT_FIELDS;

/** Byte size of one worker's stats block: Float64 region then the Int32 active/inactive counts. */
export const STATS_BYTES = F64_LEN * 8 + 3 * MAX_REALS * 4;

/** Views over one worker's stats block. */
export interface StatsViews {
  f64: Float64Array;
  /** Active conns per real slot (feeds lc/wlc). */
  active: Int32Array;
  /** Inactive conns per real slot. */
  inactive: Int32Array;
  /** Persistence templates per real slot (ipvsadm's PersistConn). */
  persist: Int32Array;
}

export function statsViews(sab: SharedArrayBuffer): StatsViews {
  return {
    f64: new Float64Array(sab, 0, F64_LEN),
    active: new Int32Array(sab, F64_LEN * 8, MAX_REALS),
    inactive: new Int32Array(sab, F64_LEN * 8 + MAX_REALS * 4, MAX_REALS),
    persist: new Int32Array(sab, F64_LEN * 8 + 2 * MAX_REALS * 4, MAX_REALS),
  };
}

export function newStatsBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(STATS_BYTES);
}
