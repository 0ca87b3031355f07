/**
 * IPVS's TCP state machine as data (ipvs-semantics.md §3.2, current kernels, non-secure table).
 * Rows: direction × event; columns: current state. Values: next state.
 */

export const enum TcpState {
  NONE = 0,
  ESTABLISHED = 1,
  SYN_SENT = 2,
  SYN_RECV = 3,
  FIN_WAIT = 4,
  TIME_WAIT = 5,
  CLOSE = 6,
  CLOSE_WAIT = 7,
  LAST_ACK = 8,
  LISTEN = 9,
  SYNACK = 10,
}
export const TCP_STATE_COUNT = 11;
/** Pseudo-state used for UDP conns (one state, "UDP"). */
export const UDP_STATE = 11;

export const STATE_NAMES = [
  'NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN',
  'SYNACK', 'UDP',
] as const;

/** Directions (row groups). */
export const DIR_INPUT = 0; // client → real
export const DIR_OUTPUT = 1; // real → client (seen in NAT/FULLNAT only)
export const DIR_INPUT_ONLY = 2; // client → real on a conn that never saw output (DR/TUN)

/** Events (rows within a group), from the TCP flags: RST > SYN > FIN > ACK. */
export const EV_SYN = 0;
export const EV_FIN = 1;
export const EV_ACK = 2;
export const EV_RST = 3;
/** A segment with none of SYN/FIN/ACK/RST: the kernel moves the conn to CLOSE. */
export const EV_NONE = 4;

const NO = TcpState.NONE, ES = TcpState.ESTABLISHED, SS = TcpState.SYN_SENT, SR = TcpState.SYN_RECV,
  FW = TcpState.FIN_WAIT, TW = TcpState.TIME_WAIT, CL = TcpState.CLOSE, CW = TcpState.CLOSE_WAIT,
  LA = TcpState.LAST_ACK, LI = TcpState.LISTEN, SA = TcpState.SYNACK;
void NO;

// prettier-ignore
const TABLE: readonly (readonly number[])[] = [
  //            NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
  /* IN  syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
  /* IN  fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
  /* IN  ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  /* IN  rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
  /* OUT syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
  /* OUT fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
  /* OUT ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
  /* OUT rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
  /* IO  syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
  /* IO  fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
  /* IO  ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  /* IO  rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

/** Flattened transition table: index ((dir*4 + event) * 11 + state). */
export const TCP_NEXT = Uint8Array.from(TABLE.flat());

/** States in which a conn counts as active (current kernels: SYN_SENT, SYN_RECV, ESTABLISHED, SYNACK). */
export const TCP_ACTIVE = Uint8Array.from(
  Array.from({ length: UDP_STATE + 1 }, (_, s) =>
    s === TcpState.SYN_SENT || s === TcpState.SYN_RECV || s === TcpState.ESTABLISHED || s === TcpState.SYNACK ? 1 : 0,
  ),
);

/** Event index from TCP flags byte. */
export function tcpEvent(flags: number): number {
  if (flags & 0x04) return EV_RST;
  if (flags & 0x02) return EV_SYN;
  if (flags & 0x01) return EV_FIN;
  if (flags & 0x10) return EV_ACK;
  return EV_NONE;
}

/** Next state for (direction, flags, current state). */
export function tcpNextState(dir: number, flags: number, state: number): number {
  const ev = tcpEvent(flags);
  if (ev === EV_NONE) return TcpState.CLOSE;
  return TCP_NEXT[(dir * 4 + ev) * TCP_STATE_COUNT + state]!;
}

/** The half-open states: the ones IPVS's drop_entry defence drops (SYN_RECV, SYNACK; see synflood.ts). */
export function halfOpenState(state: number): boolean {
  return state === TcpState.SYN_RECV || state === TcpState.SYNACK;
}

/**
 * Conns the SYN flood defence may evict, by state: 1 half-open (SYN_RECV, SYNACK), 2 closed (TIME_WAIT, CLOSE: no
 * live flow left), 0 the others.
 */
export const EVICTABLE = Uint8Array.from({ length: UDP_STATE + 1 }, (_, s) =>
  halfOpenState(s) ? 1 : s === TcpState.TIME_WAIT || s === TcpState.CLOSE ? 2 : 0,
);
