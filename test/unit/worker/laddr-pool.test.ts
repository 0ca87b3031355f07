import { describe, expect, it } from 'vitest';
import { LaddrPool } from '../../../src/worker/laddr-pool.js';

const LIP = 0xc61201c8 | 0;

describe('LaddrPool', () => {
  it('gives worker w of W exactly the ports p % W === w of the range', () => {
    for (const [w, n] of [[0, 1], [0, 2], [1, 2], [0, 3], [1, 3], [2, 3], [5, 8]] as const) {
      const p = new LaddrPool(LIP, 6, w, n, 1025, 65535);
      const got: number[] = [];
      for (let port = p.take(0, 0); port >= 0; port = p.take(0, 0)) got.push(port);
      const want = Array.from({ length: 65535 - 1025 + 1 }, (_, i) => 1025 + i).filter((x) => x % n === w);
      expect(got, `worker ${w} of ${n}`).toEqual(want);
      expect(p.size).toBe(want.length);
    }
  });

  it('workers share a range without overlap and cover all of it', () => {
    const seen = new Set<number>();
    for (let w = 0; w < 4; w++) {
      const p = new LaddrPool(LIP, 6, w, 4, 5000, 5010);
      for (let port = p.take(0, 0); port >= 0; port = p.take(0, 0)) {
        expect(seen.has(port)).toBe(false);
        seen.add(port);
      }
    }
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => 5000 + i));
  });

  it('hands a released port out again only after the quarantine, oldest release first', () => {
    const p = new LaddrPool(LIP, 6, 0, 1, 100, 102);
    expect([p.take(0, 1000), p.take(0, 1000), p.take(0, 1000), p.take(0, 1000)]).toEqual([100, 101, 102, -1]);
    p.release(101, 5000);
    p.release(100, 5500);
    expect(p.take(5999, 1000)).toBe(-1);
    expect(p.take(6000, 1000)).toBe(101);
    expect(p.take(6000, 1000)).toBe(-1); // 100 was released later
    expect(p.take(6500, 1000)).toBe(100);
    expect(p.free).toBe(0);
  });

  it('putBack makes an unused port available at once, ahead of the quarantined ones', () => {
    const p = new LaddrPool(LIP, 17, 0, 1, 100, 101);
    const a = p.take(0, 0);
    const b = p.take(0, 0);
    p.release(a, 10);
    p.putBack(b);
    expect(p.take(10, 1000)).toBe(b);
    expect(p.take(10, 1000)).toBe(-1);
    expect(p.take(1010, 1000)).toBe(a);
  });

  it('never holds more ports than it owns, and wraps around its ring', () => {
    const p = new LaddrPool(LIP, 6, 0, 1, 1, 3);
    p.release(1, 0); // not taken: ignored
    expect(p.free).toBe(3);
    for (let round = 0; round < 10; round++) {
      const x = p.take(round * 10, 5);
      expect(x).toBeGreaterThan(0);
      p.release(x, round * 10);
    }
    expect(p.free).toBe(3);
  });

  it('an empty share (more workers than ports) never hands out anything', () => {
    const p = new LaddrPool(LIP, 6, 3, 4, 1000, 1001);
    expect(p.size).toBe(0);
    expect(p.take(0, 0)).toBe(-1);
  });
});
