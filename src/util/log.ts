/** Control-thread logger: one JSON object per line on stderr. Workers never log (they count). */
type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let threshold: number = ORDER[(process.env.TAPVS_LOG as Level) ?? 'info'] ?? ORDER.info;

export function setLogLevel(l: Level): void {
  threshold = ORDER[l];
}

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  if (ORDER[level] < threshold) return;
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n');
}
