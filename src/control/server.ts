/**
 * The control API's Unix socket server. Framing: NDJSON (control/protocol.ts). Each connection is served in
 * order; a line that is not JSON, not an object, or longer than MAX_REQUEST_BYTES gets an error reply and
 * changes nothing (an oversized line also closes the connection, since the rest of it cannot be trusted).
 *
 * Access: the socket is created mode 0600 (owner: the daemon's user, root in practice) in a directory created
 * 0700 if missing; with a socket group (`tapvs run --socket-group NAME`) it is 0660 and chowned to that group
 * (a directory the daemon creates is then 0750 and that group's too). Each connecting process's kernel
 * credentials are checked (peer.ts); anyone else gets an EPERM reply and is disconnected, counted and logged.
 * A stale socket file left by a dead daemon is replaced, but a live daemon's socket is never stolen.
 *
 * Hostile or broken clients cannot take the daemon down or wedge it: at most `maxClients` connections (more are
 * refused with EBUSY); a request line must be complete within `partialTimeoutMs` of its first byte (slow
 * writers are cut off); a client that pipelines requests without reading the replies is paused (at most
 * `maxPending` requests queued and `MAX_UNREAD_BYTES` of replies unread); a half-closed connection gets the
 * replies to what it sent, then the close. Counters of all this are in `stats` (the `status` op shows them).
 */
import { chmodSync, chownSync, mkdirSync, unlinkSync, existsSync, statSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { DEFAULT_SOCKET_PATH, MAX_REQUEST_BYTES } from '../defaults.js';
import { LbError } from '../errors.js';
import { log } from '../util/log.js';
import type { Control } from './control.js';
import { LineSplitter } from './framing.js';
import { checkPeer, type SocketGroup } from './peer.js';
import type { Reply } from './protocol.js';

/** Replies a client may leave unread before the server stops reading its requests. */
const MAX_UNREAD_BYTES = 4 << 20;

export interface ControlServerOptions {
  /** Group allowed on the socket besides root and the daemon's user (mode 0660). */
  group?: SocketGroup | null;
  /** Concurrent connections accepted. */
  maxClients?: number;
  /** A request line must be complete this long after its first byte arrived. */
  partialTimeoutMs?: number;
  /** Requests queued per connection before the server stops reading it. */
  maxPending?: number;
}

/** What the server refused or cut off (shown by the `status` op as `controlSocket`). */
export interface ControlSocketStats {
  connections: number;
  requests: number;
  deniedPeers: number;
  busy: number;
  oversized: number;
  badJson: number;
  slowClosed: number;
}

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

const line = (r: Reply) => JSON.stringify(r) + '\n';

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly group: SocketGroup | null;
  private readonly maxClients: number;
  private readonly partialTimeoutMs: number;
  private readonly maxPending: number;
  readonly stats: ControlSocketStats = { connections: 0, requests: 0, deniedPeers: 0, busy: 0, oversized: 0, badJson: 0, slowClosed: 0 };

  constructor(
    private readonly control: Control,
    readonly path: string,
    private readonly maxBytes = MAX_REQUEST_BYTES,
    opts: ControlServerOptions = {},
  ) {
    this.group = opts.group ?? null;
    this.maxClients = opts.maxClients ?? 64;
    this.partialTimeoutMs = opts.partialTimeoutMs ?? 10_000;
    this.maxPending = opts.maxPending ?? 32;
    control.socketStats = this.stats;
  }

  async listen(): Promise<void> {
    const dir = dirname(this.path);
    const created = mkdirSync(dir, { recursive: true, mode: this.group ? 0o750 : 0o700 });
    if (this.group && (created !== undefined || dir === dirname(DEFAULT_SOCKET_PATH))) {
      // Our own directory: the group must be able to reach the socket in it.
      chownSync(dir, -1, this.group.gid);
      chmodSync(dir, (statSync(dir).mode & 0o7777 & ~0o007) | 0o050);
    }
    if (existsSync(this.path)) {
      if (await socketAlive(this.path)) {
        throw new LbError('EIO', `another tapvs daemon is already listening on ${this.path}`);
      }
      unlinkSync(this.path);
    }
    const server = net.createServer({ allowHalfOpen: true }, (sock) => this.serve(sock));
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
    if (this.group) chownSync(this.path, -1, this.group.gid);
    chmodSync(this.path, this.group ? 0o660 : 0o600);
  }

  /** Refuses a connection with one error reply. */
  private refuse(sock: net.Socket, code: 'EPERM' | 'EIO', message: string): void {
    sock.on('error', () => sock.destroy());
    sock.end(line({ ok: false, error: { code, message } }));
    setTimeout(() => sock.destroy(), 1000).unref();
  }

  private serve(sock: net.Socket): void {
    const st = this.stats;
    if (this.sockets.size >= this.maxClients) {
      st.busy++;
      this.refuse(sock, 'EIO', `too many control connections (${this.maxClients}); try again`);
      return;
    }
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    const peer = checkPeer(fd, this.group);
    if (!peer.allowed) {
      st.deniedPeers++;
      log('warn', 'control connection refused', { pid: peer.pid, uid: peer.uid, gid: peer.gid, reason: peer.reason });
      this.refuse(sock, 'EPERM', `permission denied: ${peer.reason}`);
      return;
    }
    st.connections++;
    this.sockets.add(sock);
    const splitter = new LineSplitter(this.maxBytes);
    let chain = Promise.resolve();
    let pending = 0;
    let closing = false;
    let slowTimer: NodeJS.Timeout | null = null;
    const clearSlow = () => {
      if (slowTimer) clearTimeout(slowTimer);
      slowTimer = null;
    };
    sock.on('close', () => {
      clearSlow();
      this.sockets.delete(sock);
    });
    sock.on('error', () => sock.destroy());
    const reply = (r: Reply) => {
      if (!sock.destroyed && sock.writable) sock.write(line(r));
    };
    /** Stops reading while too much is queued or unread; resumes when it drained. */
    const throttle = () => {
      if (closing) return;
      if (pending >= this.maxPending || sock.writableLength > MAX_UNREAD_BYTES) sock.pause();
      else sock.resume();
    };
    sock.on('drain', throttle);
    const enqueue = (text: string) => {
      if (text.trim() === '') return;
      pending++;
      chain = chain.then(async () => {
        st.requests++;
        let req: unknown;
        try {
          req = JSON.parse(text);
        } catch {
          st.badJson++;
          reply({ ok: false, error: { code: 'EBADREQ', message: 'request is not valid JSON' } });
          return;
        }
        reply(await this.control.handle(req));
      }).finally(() => {
        pending--;
        throttle();
      });
    };
    const cutOff = (counter: 'oversized' | 'slowClosed', message: string) => {
      closing = true;
      clearSlow();
      sock.pause();
      st[counter]++;
      chain = chain.then(() => {
        reply({ ok: false, error: { code: counter === 'oversized' ? 'ETOOBIG' : 'EBADREQ', message } });
        sock.end();
        setTimeout(() => sock.destroy(), 1000).unref();
      });
    };
    sock.on('data', (chunk: Buffer) => {
      if (closing) return;
      const lines = splitter.push(chunk);
      if (lines === 'overflow') return cutOff('oversized', `request longer than ${this.maxBytes} bytes`);
      for (const l of lines) enqueue(l);
      // A started line must be finished in time (a byte-at-a-time writer cannot hold the connection forever).
      if (splitter.partial === 0) clearSlow();
      else if (!slowTimer) {
        slowTimer = setTimeout(() => cutOff('slowClosed', `request not completed within ${this.partialTimeoutMs} ms`), this.partialTimeoutMs);
        slowTimer.unref();
      }
      throttle();
    });
    sock.on('end', () => {
      // Half-closed by the client: an unterminated last line is still a request; answer it all, then close.
      clearSlow();
      if (!closing) enqueue(splitter.rest());
      closing = true;
      chain = chain.then(() => {
        sock.end();
      });
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
