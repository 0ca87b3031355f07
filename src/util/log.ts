/**
 * Control-thread logger (pino): one JSON object per line on stderr, e.g.
 * `{"level":"warn","time":"2026-…Z","pid":1234,"service":"TCP 10.0.0.100:80","real":"10.0.1.11:80",…,"msg":"health transition"}`.
 * What is logged: start and stop, configuration changes (each successful mutating API op), health transitions,
 * drains, worker exits and restarts. Workers never log (they count); nothing is logged per packet.
 * Level from TAPVS_LOG (debug, info, warn, error; default info). Writes are synchronous: the volume is small and
 * a line must not be lost when the process exits right after it.
 */
import { pino } from 'pino';

type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];
const fromEnv = process.env.TAPVS_LOG as Level | undefined;

const logger = pino(
  {
    level: fromEnv && LEVELS.includes(fromEnv) ? fromEnv : 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  pino.destination({ fd: 2, sync: true }),
);

export function setLogLevel(l: Level): void {
  logger.level = l;
}

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  logger[level](fields, msg);
}
