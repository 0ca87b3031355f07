/**
 * The control API's Unix socket server. Framing: NDJSON (control/protocol.ts). Each connection is served in
 * order; a line that is not JSON, not an object, or longer than MAX_REQUEST_BYTES gets an error reply and
 * changes nothing (an oversized line also closes the connection, since the rest of it cannot be trusted).
 * The socket is created mode 0600 in a directory created 0700 if missing; a stale socket file left by a dead
 * daemon is replaced, but a live daemon's socket is never stolen.
 */
import { chmodSync, mkdirSync, unlinkSync, existsSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { MAX_REQUEST_BYTES } from '../defaults.js';
import { LbError } from '../errors.js';
import type { Control } from './control.js';
import { LineSplitter } from './framing.js';
import type { Reply } from './protocol.js';

function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly control: Control, readonly path: string, private readonly maxBytes = MAX_REQUEST_BYTES) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    if (existsSync(this.path)) {
      if (await socketAlive(this.path)) {
        throw new LbError('EIO', `another tapvs daemon is already listening on ${this.path}`);
      }
      unlinkSync(this.path);
    }
    const server = net.createServer((sock) => this.serve(sock));
    this.server = server;
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => resolve());
      });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(this.path, 0o600);
  }

  private serve(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    const splitter = new LineSplitter(this.maxBytes);
    let chain = Promise.resolve();
    const reply = (r: Reply) => {
      if (!sock.destroyed) sock.write(JSON.stringify(r) + '\n');
    };
    sock.on('data', (chunk) => {
      const lines = splitter.push(chunk);
      if (lines === 'overflow') {
        chain = chain.then(() => {
          reply({ ok: false, error: { code: 'ETOOBIG', message: `request longer than ${this.maxBytes} bytes` } });
          sock.end();
        });
        sock.pause();
        return;
      }
      for (const line of lines) {
        if (line.trim() === '') continue;
        chain = chain.then(async () => {
          let req: unknown;
          try {
            req = JSON.parse(line);
          } catch {
            reply({ ok: false, error: { code: 'EBADREQ', message: 'request is not valid JSON' } });
            return;
          }
          reply(await this.control.handle(req));
        });
      }
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server) {
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
      this.server = null;
    }
    try {
      unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }
}
