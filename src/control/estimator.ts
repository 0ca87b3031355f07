/**
 * IPVS's rate estimator (ip_vs_est.c), run on the control thread every 2 seconds over aggregated counters:
 * for conns and packets `avg += ((delta << 9) - avg) >> 2` (scaled by 2^10 per second, weight 1/4), shown as
 * `(avg + 0x1FF) >> 10`; for bytes `avg += ((delta << 4) - avg) >> 2` (scaled by 2^5), shown as
 * `(avg + 0xF) >> 5`. Integer arithmetic on doubles (exact below 2^53) with floor for the shifts.
 */
export const ESTIMATOR_INTERVAL_MS = 2000;
export const EST_FIELDS = 5; // conns, inpkts, outpkts, inbytes, outbytes

export class RateEstimator {
  private readonly last: Float64Array;
  private readonly avg: Float64Array;

  constructor(readonly entries: number) {
    this.last = new Float64Array(entries * EST_FIELDS);
    this.avg = new Float64Array(entries * EST_FIELDS);
  }

  /** Feeds the current totals of entry `e` (5 fields). */
  sample(e: number, totals: ArrayLike<number>): void {
    for (let f = 0; f < EST_FIELDS; f++) {
      const i = e * EST_FIELDS + f;
      const delta = Math.max(0, totals[f]! - this.last[i]!);
      this.last[i] = totals[f]!;
      const scaled = f < 3 ? delta * 512 : delta * 16;
      this.avg[i] = this.avg[i]! + Math.floor((scaled - this.avg[i]!) / 4);
    }
  }

  /** Rates of entry e: [cps, inpps, outpps, inbps, outbps]. */
  rates(e: number): [number, number, number, number, number] {
    const a = (f: number) => this.avg[e * EST_FIELDS + f]!;
    return [
      Math.floor((a(0) + 0x1ff) / 1024), Math.floor((a(1) + 0x1ff) / 1024), Math.floor((a(2) + 0x1ff) / 1024),
      Math.floor((a(3) + 0xf) / 32), Math.floor((a(4) + 0xf) / 32),
    ];
  }

  /** Restarts entry e from the given totals (zeroing, or a reused slot). */
  reset(e: number, totals: ArrayLike<number>): void {
    for (let f = 0; f < EST_FIELDS; f++) {
      this.last[e * EST_FIELDS + f] = totals[f]!;
      this.avg[e * EST_FIELDS + f] = 0;
    }
  }
}
