/**
 * Control API client: one connection, requests answered in order. Used by tapvsadm, the demo and tests.
 */
import net from 'node:net';
import { LbError, type LbErrorCode } from '../errors.js';
import { DEFAULT_SOCKET_PATH, MAX_REQUEST_BYTES, SOCKET_ENV } from '../defaults.js';
import { LineSplitter } from './framing.js';
import type { ListResult, Reply, Request, StatusResult } from './protocol.js';

export function resolveSocketPath(flag?: string): string {
  return flag ?? process.env[SOCKET_ENV] ?? DEFAULT_SOCKET_PATH;
}

type DistributiveOmit<T, K extends keyof any> = T extends unknown ? Omit<T, K> : never;
export type RequestBody = DistributiveOmit<Request, 'id'>;

export class ControlClient {
  private nextId = 1;
  private waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    const splitter = new LineSplitter(64 * MAX_REQUEST_BYTES);
    sock.on('data', (chunk) => {
      const lines = splitter.push(chunk);
      if (lines === 'overflow') {
        this.failAll(new LbError('EIO', 'reply from daemon too large'));
        sock.destroy();
        return;
      }
      for (const line of lines) this.onLine(line);
    });
    sock.on('error', (err) => this.failAll(new LbError('EIO', `control socket: ${err.message}`)));
    sock.on('close', () => {
      this.closed = true;
      this.failAll(new LbError('EIO', 'control socket closed by the daemon'));
    });
  }

  /** Connects to the daemon's socket; rejects with a clear message if no daemon listens there. */
  static connect(path: string, timeoutMs = 5000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ path });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new LbError('EIO', `timed out connecting to ${path}`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        resolve(new ControlClient(sock));
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (err.code === 'EACCES') {
          reject(new LbError('EPERM', `cannot connect to ${path}: permission denied (root, or a member of the daemon's --socket-group)`));
          return;
        }
        const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'is the tapvs daemon running?' : err.message;
        reject(new LbError('EIO', `cannot connect to ${path}: ${why}`));
      });
    });
  }

  request(body: { op: 'list' } & RequestBody): Promise<ListResult>;
  request(body: { op: 'status' } & RequestBody): Promise<StatusResult>;
  request(body: RequestBody): Promise<unknown>;
  request(body: RequestBody): Promise<unknown> {
    if (this.closed) return Promise.reject(new LbError('EIO', 'control socket closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.sock.write(JSON.stringify({ ...body, id }) + '\n');
    });
  }

  /** Sends a raw line (tests of malformed input). Resolves with the parsed reply. */
  rawRequest(line: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const id = 0;
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.rawMode = true;
      this.sock.write(line.endsWith('\n') ? line : line + '\n');
    });
  }
  private rawMode = false;

  close(): void {
    this.closed = true;
    this.sock.end();
    this.sock.destroy();
  }

  private onLine(line: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      this.failAll(new LbError('EIO', 'malformed reply from daemon'));
      return;
    }
    if (this.rawMode) {
      const w = this.waiting.get(0);
      this.waiting.delete(0);
      this.rawMode = false;
      w?.resolve(reply);
      return;
    }
    if (reply.id === undefined && !reply.ok) {
      // The connection was refused as a whole (permission, too many clients): every request fails with it.
      this.failAll(new LbError(reply.error.code as LbErrorCode, reply.error.message));
      return;
    }
    const id = reply.id ?? -1;
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    if (reply.ok) w.resolve(reply.result);
    else w.reject(new LbError(reply.error.code as LbErrorCode, reply.error.message));
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
