import { describe, expect, it } from 'vitest';
import { DIR_INPUT, DIR_INPUT_ONLY, DIR_OUTPUT, STATE_NAMES, TCP_ACTIVE, TcpState, halfOpenState, tcpNextState } from '../../../src/worker/tcp-state.js';

const S = 0x02, A = 0x10, F = 0x01, R = 0x04;
const name = (s: number) => STATE_NAMES[s];

function walk(steps: [number, number][]): string[] {
  let st: number = TcpState.NONE;
  return steps.map(([dir, flags]) => name((st = tcpNextState(dir, flags, st)))!);
}

describe('IPVS TCP state machine', () => {
  it('follows a NAT connection: SYN, SYN-ACK, ACK, FIN from both sides', () => {
    expect(walk([[DIR_INPUT, S], [DIR_OUTPUT, S | A], [DIR_INPUT, A], [DIR_INPUT, F | A], [DIR_OUTPUT, F | A], [DIR_INPUT, A]])).toEqual([
      'SYN_RECV', 'SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'TIME_WAIT', 'TIME_WAIT',
    ]);
  });

  it('follows the typical DR flow of the reference (input only)', () => {
    expect(walk([[DIR_INPUT_ONLY, S], [DIR_INPUT_ONLY, A], [DIR_INPUT_ONLY, F | A], [DIR_INPUT_ONLY, A], [DIR_INPUT_ONLY, R]])).toEqual([
      'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'FIN_WAIT', 'CLOSE',
    ]);
  });

  it('moves to CLOSE on RST from established and on a segment without flags', () => {
    expect(tcpNextState(DIR_INPUT, R, TcpState.ESTABLISHED)).toBe(TcpState.CLOSE);
    expect(tcpNextState(DIR_INPUT, 0, TcpState.ESTABLISHED)).toBe(TcpState.CLOSE);
    expect(tcpNextState(DIR_OUTPUT, R, TcpState.TIME_WAIT)).toBe(TcpState.TIME_WAIT);
  });

  it('counts SYN_SENT, SYN_RECV, ESTABLISHED and SYNACK as active (current kernels)', () => {
    expect(STATE_NAMES.filter((_, i) => TCP_ACTIVE[i] === 1)).toEqual(['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'SYNACK']);
  });

  it('calls SYN_RECV and SYNACK half-open (the states the SYN flood defence evicts)', () => {
    expect(STATE_NAMES.filter((_, i) => halfOpenState(i))).toEqual(['SYN_RECV', 'SYNACK']);
  });
});
