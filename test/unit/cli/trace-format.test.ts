/** `tapvs trace` text lines (src/cli/trace-cmd.ts formatRecord). */
import { describe, expect, it } from 'vitest';
import { formatRecord } from '../../../src/cli/trace-cmd.js';

const base = { time: '2026-11-25T21:58:36.123Z', worker: 1, proto: 'tcp', src: '10.0.0.2:40000', dst: '10.0.0.100:80', tx: 1 } as const;

describe('trace lines', () => {
  it('a new conn: the real, the method and the rewritten headers', () => {
    expect(formatRecord({ ...base, conn: 'new', real: '10.0.1.11:8080', method: 'nat', result: 'forwarded',
      out: { proto: 'tcp', src: '10.0.0.2:40000', dst: '10.0.1.11:8080', mac: '02:11:00:00:00:11' } }))
      .toBe('21:58:36.123 w1 tcp 10.0.0.2:40000 > 10.0.0.100:80 | conn new → 10.0.1.11:8080 nat | forwarded | out tcp 10.0.0.2:40000 > 10.0.1.11:8080 to 02:11:00:00:00:11');
  });
  it('a TUN packet sent as two outer fragments', () => {
    expect(formatRecord({ ...base, tx: 2, conn: 'hit', real: '10.0.1.11:80', method: 'tun', result: 'forwarded',
      out: { proto: 'ipip', src: '10.0.1.1', dst: '10.0.1.11', mac: '02:11:00:00:00:11' } }))
      .toBe('21:58:36.123 w1 tcp 10.0.0.2:40000 > 10.0.0.100:80 | conn hit → 10.0.1.11:80 tun | forwarded | out ipip 10.0.1.1 > 10.0.1.11 to 02:11:00:00:00:11 (2 frames)');
  });
  it('a drop names its reason; a frame waiting for ARP is held', () => {
    expect(formatRecord({ ...base, tx: 0, conn: 'none', result: 'dropped', drop: 'no_service' }))
      .toBe('21:58:36.123 w1 tcp 10.0.0.2:40000 > 10.0.0.100:80 | conn none | DROP no_service');
    expect(formatRecord({ ...base, tx: 0, conn: 'new', real: '10.0.1.11:80', method: 'dr', result: 'held' }))
      .toBe('21:58:36.123 w1 tcp 10.0.0.2:40000 > 10.0.0.100:80 | conn new → 10.0.1.11:80 dr | held (ARP)');
  });
});
