import { describe, expect, it } from 'vitest';
import { ConnTable, NIL } from '../../../src/worker/conn-table.js';

const TCP = 6;

// Addresses are int32 on the packet path (`| 0`): 198.18.0.100 is negative as a signed number.
const VIP = 0xc6120064 | 0;
const RIP = (i: number) => (0xc6120100 + (i % 7)) | 0;

function fill(t: ConnTable, n: number, now: number, ttl: number): number[] {
  const rows: number[] = [];
  t.now = now;
  for (let i = 0; i < n; i++) {
    const c = t.insert(TCP, 0x0a000000 + i, 1024 + (i % 60000), VIP, 80, RIP(i), 8080, 0x0a000000 + i, 1024 + (i % 60000), ttl);
    rows.push(c);
  }
  return rows;
}

describe('ConnTable', () => {
  it('finds entries by the inbound and the outbound key, and nothing else', () => {
    const t = new ConnTable(64, 0);
    const rows = fill(t, 50, 0, 1000);
    expect(rows.every((r) => r !== NIL)).toBe(true);
    for (let i = 0; i < 50; i++) {
      expect(t.lookupIn(TCP, 0x0a000000 + i, 1024 + i, VIP, 80)).toBe(rows[i]);
      expect(t.lookupOut(TCP, RIP(i), 8080, 0x0a000000 + i, 1024 + i)).toBe(rows[i]);
    }
    expect(t.lookupIn(17, 0x0a000000, 1024, VIP, 80)).toBe(NIL);
    expect(t.lookupIn(TCP, 0x0a000000, 1025, VIP, 80)).toBe(NIL);
    expect(t.lookupOut(TCP, RIP(0), 8081, 0x0a000000, 1024)).toBe(NIL);
  });

  it('refuses inserts when full and reuses freed rows', () => {
    const t = new ConnTable(8, 0);
    const rows = fill(t, 9, 0, 1000);
    expect(rows.slice(0, 8).every((r) => r !== NIL)).toBe(true);
    expect(rows[8]).toBe(NIL);
    const expired: number[] = [];
    t.remove(rows[3]!, { onExpire: (c) => expired.push(c) > 0 });
    expect(expired).toEqual([rows[3]]);
    expect(t.count).toBe(7);
    expect(t.lookupIn(TCP, 0x0a000003, 1027, VIP, 80)).toBe(NIL);
    expect(fill(t, 1, 0, 1000)[0]).toBe(rows[3]);
  });

  it('expires entries when their time comes, not before, honouring later touches (injected clock)', () => {
    const t = new ConnTable(1024, 0);
    const rows = fill(t, 100, 0, 10_000);
    for (let i = 0; i < 50; i++) t.touch(rows[i]!, 90_000); // kept alive by traffic
    const gone: number[] = [];
    const h = { onExpire: (c: number) => gone.push(c) > 0 };
    expect(t.expire(9_999, h)).toBe(0);
    expect(t.expire(10_000, h)).toBe(50);
    expect(new Set(gone)).toEqual(new Set(rows.slice(50)));
    expect(t.count).toBe(50);
    expect(t.expire(89_000, h)).toBe(0);
    expect(t.expire(95_000, h)).toBe(50);
    expect(t.count).toBe(0);
  });

  it('expires an entry on time when its expiry moves earlier (ESTABLISHED → CLOSE)', () => {
    const t = new ConnTable(16, 0);
    const [c] = fill(t, 1, 0, 900_000);
    t.now = 5_000;
    t.refresh(c!, 10_000);
    const gone: number[] = [];
    t.expire(14_999, { onExpire: (x) => gone.push(x) > 0 });
    expect(gone).toEqual([]);
    t.expire(15_000, { onExpire: (x) => gone.push(x) > 0 });
    expect(gone).toEqual([c]);
  });

  it('handles timeouts longer than the wheel span and bounded expiry budgets', () => {
    const t = new ConnTable(4096, 0);
    const rows = fill(t, 3000, 0, 10_000_000); // 10 000 s, more than the 4096 s wheel
    const h = { onExpire: () => true };
    expect(t.expire(5_000_000, h)).toBe(0);
    expect(t.count).toBe(3000);
    let total = 0;
    for (let i = 0; i < 10 && t.count > 0; i++) total += t.expire(10_000_000, h, 1000);
    expect(total).toBe(3000);
    expect(t.count).toBe(0);
    expect(rows.length).toBe(3000);
  });

  it('visits every live entry once in forEach', () => {
    const t = new ConnTable(256, 0);
    const rows = fill(t, 200, 0, 5000);
    t.remove(rows[0]!, { onExpire: () => true });
    const seen: number[] = [];
    t.forEach((c) => seen.push(c));
    expect(seen.sort((a, b) => a - b)).toEqual(rows.slice(1).sort((a, b) => a - b));
  });
});

describe('ConnTable against a naive model', () => {
  it('expires exactly what a map of expiry times says, through random inserts, touches, removals and budgets', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const t = new ConnTable(512, 0);
    const model = new Map<number, number>(); // row → expires
    const keyOf = new Map<number, number>(); // row → client port (its identity)
    let now = 0;
    let nextPort = 1;
    const h = { onExpire: (c: number) => {
      expect(model.get(c)! <= now).toBe(true);
      return model.delete(c);
    } };
    for (let step = 0; step < 20_000; step++) {
      const op = rnd(10);
      if (op < 4 && model.size < 500) {
        t.now = now;
        const ttl = [500, 2_000, 10_000, 5_000_000][rnd(4)]!;
        const port = nextPort++ & 0xffff;
        const c = t.insert(TCP, 1, port, VIP, 80, RIP(port), 8080, 1, port, ttl);
        expect(c).not.toBe(NIL);
        model.set(c, now + ttl);
        keyOf.set(c, port);
      } else if (op < 6 && model.size > 0) {
        const rows = [...model.keys()];
        const c = rows[rnd(rows.length)]!;
        const e = now + [100, 3_000, 50_000][rnd(3)]!;
        t.touch(c, e);
        model.set(c, e);
      } else if (op < 7 && model.size > 0) {
        const rows = [...model.keys()];
        const c = rows[rnd(rows.length)]!;
        t.remove(c, { onExpire: () => model.delete(c) });
      } else {
        now += rnd(1500);
        t.expire(now, h, 1 + rnd(8));
      }
      expect(t.count).toBe(model.size);
    }
    // Drain everything: all entries eventually expire, each exactly once.
    now += 10_000_000;
    while (t.count > 0) t.expire(now, h, 64);
    expect(model.size).toBe(0);
    for (const [, port] of keyOf) expect(t.lookupIn(TCP, 1, port, VIP, 80)).toBe(NIL);
  });
});
