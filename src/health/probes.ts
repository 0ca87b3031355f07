/**
 * One health probe of one real, from the host's own network stack (source 'host'), as plain async I/O on the
 * control thread: a probe is a socket or a child process waiting on the network, not CPU work, so libuv
 * multiplexes thousands of them without a thread pool. Every probe ends within the check's timeout (an
 * AbortSignal bounds sockets and HTTP, a kill bounds exec) and resolves to null (success) or an error text; it
 * never rejects.
 *
 * HTTP(S) uses node:http/https rather than fetch: fetch drops a caller's Host header (a forbidden header name)
 * and cannot skip certificate verification without undici's own Agent. A real behind a VIP rarely holds a
 * certificate for its own address, so https checks verify reachability and the answer, not the certificate
 * (as keepalived's SSL_GET does); SNI carries `host` when given.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { HealthCheckSpec } from '../config/health-spec.js';

export interface ProbeTarget {
  /** Real address and the port probed (the spec's port, else the real's). */
  rip: string;
  port: number;
  /** The service, for exec checks' environment. */
  vip: string;
  vport: number;
  proto: 'tcp' | 'udp';
}

/** Body bytes an HTTP check reads at most while looking for expectBody. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Bytes of an exec check's stderr kept for the error text. */
const EXEC_STDERR_BYTES = 200;

export function probe(spec: HealthCheckSpec, t: ProbeTarget): Promise<string | null> {
  switch (spec.kind) {
    case 'tcp':
      return tcpProbe(t, spec.timeoutMs);
    case 'http':
    case 'https':
      return httpProbe(spec, t);
    case 'udp':
      return udpProbe(spec, t);
    case 'exec':
      return execProbe(spec, t);
  }
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ?? err?.message ?? String(e);
}

function tcpProbe(t: ProbeTarget, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host: t.rip, port: t.port });
    const done = (err: string | null) => {
      clearTimeout(timer);
      s.destroy();
      resolve(err);
    };
    const timer = setTimeout(() => done(`tcp connect: timeout after ${timeoutMs} ms`), timeoutMs);
    s.once('connect', () => done(null));
    s.once('error', (e) => done(`tcp connect: ${errText(e)}`));
  });
}

function httpProbe(spec: HealthCheckSpec, t: ProbeTarget): Promise<string | null> {
  const mod = spec.kind === 'https' ? https : http;
  const path = spec.path ?? '/';
  return new Promise((resolve) => {
    let settled = false;
    const done = (err: string | null) => {
      if (settled) return;
      settled = true;
      req.destroy();
      resolve(err);
    };
    const req = mod.request(
      {
        host: t.rip, port: t.port, path, method: 'GET', agent: false, signal: AbortSignal.timeout(spec.timeoutMs),
        headers: { host: spec.host ?? (t.port === (spec.kind === 'https' ? 443 : 80) ? t.rip : `${t.rip}:${t.port}`), 'user-agent': 'tapvs-health', connection: 'close' },
        ...(spec.kind === 'https' ? { rejectUnauthorized: false, servername: spec.host && !net.isIP(spec.host) ? spec.host : undefined } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const okStatus = spec.expectStatus ? spec.expectStatus.includes(status) : status >= 200 && status <= 399;
        if (!okStatus) return done(`${spec.kind} GET ${path}: status ${status}`);
        if (spec.expectBody === undefined) return done(null);
        const want = spec.expectBody;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
          if (body.includes(want)) done(null);
          else if (body.length > MAX_BODY_BYTES) done(`${spec.kind} GET ${path}: body does not contain ${JSON.stringify(want)} (first ${MAX_BODY_BYTES} bytes)`);
        });
        res.on('end', () => done(body.includes(want) ? null : `${spec.kind} GET ${path}: body does not contain ${JSON.stringify(want)}`));
        res.on('error', (e) => done(`${spec.kind} GET ${path}: ${errText(e)}`));
      },
    );
    req.on('error', (e) => {
      const timedOut = (e as Error).name === 'AbortError' || (e as Error).name === 'TimeoutError';
      done(`${spec.kind} GET ${path}: ${timedOut ? `timeout after ${spec.timeoutMs} ms` : errText(e)}`);
    });
    req.end();
  });
}

function udpProbe(spec: HealthCheckSpec, t: ProbeTarget): Promise<string | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    let settled = false;
    const done = (err: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        s.close();
      } catch {
        /* already closed */
      }
      resolve(err);
    };
    const timer = setTimeout(() => done(`udp: no reply within ${spec.timeoutMs} ms`), spec.timeoutMs);
    // A connected socket: an ICMP port unreachable from the real comes back as ECONNREFUSED at once.
    s.on('error', (e) => done(`udp: ${errText(e)}`));
    s.on('message', (m) => {
      if (spec.expect === undefined || m.toString('utf8').includes(spec.expect)) done(null);
      else done(`udp: reply does not contain ${JSON.stringify(spec.expect)}`);
    });
    s.connect(t.port, t.rip, () => s.send(Buffer.from(spec.send ?? '', 'utf8')));
  });
}

function execProbe(spec: HealthCheckSpec, t: ProbeTarget): Promise<string | null> {
  const [cmd, ...args] = spec.command!;
  return new Promise((resolve) => {
    let settled = false;
    let stderr = '';
    const done = (err: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(err);
    };
    const child = spawn(cmd!, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env, TAPVS_REAL_IP: t.rip, TAPVS_REAL_PORT: String(t.port), TAPVS_VIP: t.vip, TAPVS_VPORT: String(t.vport),
        TAPVS_PROTO: t.proto,
      },
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(`exec ${cmd}: killed after ${spec.timeoutMs} ms`);
    }, spec.timeoutMs);
    child.stderr!.on('data', (d) => {
      if (stderr.length < EXEC_STDERR_BYTES) stderr += String(d);
    });
    child.on('error', (e) => done(`exec ${cmd}: ${errText(e)}`));
    child.on('close', (code, signal) => {
      const why = stderr.trim().split('\n').pop()?.slice(0, EXEC_STDERR_BYTES);
      if (code === 0) done(null);
      else done(`exec ${cmd}: ${signal ? `killed by ${signal}` : `exit ${code}`}${why ? `: ${why}` : ''}`);
    });
  });
}
