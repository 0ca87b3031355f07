#!/usr/bin/env node
// A real server for the test bed: HTTP on --http PORT answering "served-by NAME client IP:PORT" (or a body of
// ?bytes=N; a POST is answered "received N" with its body length), and a UDP echo on --udp PORT prefixing replies
// with "NAME ". Plain JS: runs without a build.
// Behind a FULLNAT director with PROXY protocol: --proxy-http PORT serves the same HTTP on connections that start
// with a PROXY v1 or v2 header (the answer names the header's client and the socket's peer: "served-by NAME client
// IP:PORT peer LIP:LPORT proxy v1"; a connection without a valid header is closed), and --proxy-udp PORT echoes
// datagrams that each start with a PROXY v2 header ("NAME client IP:PORT <payload>"; others are dropped).
import http from 'node:http';
import dgram from 'node:dgram';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    name: { type: 'string' }, http: { type: 'string', default: '80' }, udp: { type: 'string', default: '53' }, echo: { type: 'string' },
    'proxy-http': { type: 'string' }, 'proxy-udp': { type: 'string' },
    // How long an idle kept-alive HTTP connection stays open (ms). Node clients drop a connection 1 s before the
    // server's announced timeout, so a client that reuses connections needs more than 1000.
    'keep-alive': { type: 'string', default: '1000' },
  },
});
const name = values.name ?? 'real';

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.method === 'POST') {
    let n = 0;
    req.on('data', (d) => (n += d.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': name });
      res.end(`received ${n}\n`);
    });
    return;
  }
  const bytes = Number(url.searchParams.get('bytes') ?? 0);
  if (bytes > 0) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes, 'x-served-by': name });
    const chunk = Buffer.alloc(Math.min(bytes, 65536), 'x');
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': name });
  const pp = req.socket.proxy;
  const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  res.end(pp ? `served-by ${name} client ${pp.addr}:${pp.port} peer ${peer} proxy v${pp.version}\n` : `served-by ${name} client ${peer}\n`);
});
server.keepAliveTimeout = Number(values['keep-alive']);
server.listen(Number(values.http), '0.0.0.0');

const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(Buffer.concat([Buffer.from(`${name} `), msg]), rinfo.port, rinfo.address));
udp.bind(Number(values.udp), '0.0.0.0');

const PP2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const ip4 = (b, o) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/**
 * Parses a PROXY header at the start of `buf` (haproxy's proxy-protocol.txt). Returns { addr, port, version, len }
 * when complete, null when more bytes are needed, or an Error when it is not a valid header.
 */
function parseProxy(buf, dgram) {
  if (buf.length >= 1 && buf[0] === 0x0d) {
    if (buf.length < 16) return PP2_SIG.subarray(0, buf.length).equals(buf) ? null : new Error('bad v2 signature');
    if (!buf.subarray(0, 12).equals(PP2_SIG) || buf[12] !== 0x21) return new Error('bad v2 signature/command');
    const want = dgram ? 0x12 : 0x11;
    if (buf[13] !== want) return new Error(`v2 family/transport 0x${buf[13].toString(16)}, expected 0x${want.toString(16)}`);
    const len = buf.readUInt16BE(14);
    if (len < 12) return new Error('v2 address block too short');
    if (buf.length < 16 + len) return null;
    return { addr: ip4(buf, 16), port: buf.readUInt16BE(24), dst: `${ip4(buf, 20)}:${buf.readUInt16BE(26)}`, version: 2, len: 16 + len };
  }
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length < 107 && 'PROXY '.startsWith(buf.toString('latin1', 0, 6).slice(0, buf.length)) ? null : new Error('no v1 line');
  const m = /^PROXY TCP4 (\d+\.\d+\.\d+\.\d+) (\d+\.\d+\.\d+\.\d+) (\d+) (\d+)$/.exec(buf.toString('latin1', 0, end));
  if (!m) return new Error('bad v1 line');
  return { addr: m[1], port: Number(m[3]), dst: `${m[2]}:${m[4]}`, version: 1, len: end + 2 };
}

if (values['proxy-http']) {
  net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const pp = parseProxy(buf, false);
      if (pp === null) return;
      sock.removeListener('data', onData);
      if (pp instanceof Error) {
        console.error(`proxy-http: ${pp.message}`);
        sock.destroy();
        return;
      }
      sock.pause();
      sock.proxy = pp;
      if (buf.length > pp.len) sock.unshift(buf.subarray(pp.len));
      server.emit('connection', sock);
      sock.resume();
    };
    sock.on('data', onData);
    sock.on('error', () => {});
  }).listen(Number(values['proxy-http']), '0.0.0.0');
}

if (values['proxy-udp']) {
  const pu = dgram.createSocket('udp4');
  pu.on('message', (msg, rinfo) => {
    const pp = parseProxy(msg, true);
    if (pp === null || pp instanceof Error) return void console.error(`proxy-udp: ${pp ? pp.message : 'short datagram'}`);
    pu.send(Buffer.concat([Buffer.from(`${name} client ${pp.addr}:${pp.port} `), msg.subarray(pp.len)]), rinfo.port, rinfo.address);
  });
  pu.bind(Number(values['proxy-udp']), '0.0.0.0');
}

// Optional TCP echo (--echo PORT): long-lived connections for tests that need them.
if (values.echo) net.createServer((c) => { c.on('error', () => {}); c.pipe(c); }).listen(Number(values.echo), '0.0.0.0');

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
console.log(`realserver ${name} http:${values.http} udp:${values.udp}`);
