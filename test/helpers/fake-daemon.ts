/**
 * A fake tapvs daemon for CLI tests: a Unix socket speaking the NDJSON control protocol that records every
 * request and answers from a table; and a capture of a CLI's stdout/stderr.
 */
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';

export type Answer = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };

/** Records every request; answers from `answers[op]` (default ok with a null result). */
export class FakeDaemon {
  readonly requests: Array<Record<string, unknown>> = [];
  answers: Record<string, Answer> = {};
  private server = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const req = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        this.requests.push(req);
        const a = this.answers[req.op as string] ?? { ok: true, result: null };
        sock.write(JSON.stringify({ id: req.id, ...a }) + '\n');
      }
    });
    sock.on('error', () => undefined);
  });
  constructor(readonly path: string) {}
  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.path, resolve));
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
  /** Requests without the client's ids. */
  ops(): unknown[] {
    return this.requests.map(({ id: _id, ...rest }) => rest);
  }
}

export class Capture {
  out = '';
  err = '';
  readonly io = {
    stdout: { write: (s: string) => (this.out += s) },
    stderr: { write: (s: string) => (this.err += s) },
  };
}

/**
 * A fresh fake daemon (in a tmp dir) and capture for every test of the calling describe block; the returned
 * object's fields are set before each test.
 */
export function fakeDaemonPerTest(prefix: string): { daemon: FakeDaemon; cap: Capture; dir: string } {
  const ctx = {} as { daemon: FakeDaemon; cap: Capture; dir: string };
  beforeEach(async () => {
    ctx.dir = mkdtempSync(join(tmpdir(), prefix));
    ctx.daemon = new FakeDaemon(join(ctx.dir, 'tapvs.sock'));
    await ctx.daemon.listen();
    ctx.cap = new Capture();
  });
  afterEach(async () => {
    await ctx.daemon.close();
    rmSync(ctx.dir, { recursive: true, force: true });
  });
  return ctx;
}
