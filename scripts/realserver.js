#!/usr/bin/env node
// A real server for the test bed: HTTP on --http PORT answering "served-by NAME client IP:PORT" (or a body of
// ?bytes=N), and a UDP echo on --udp PORT prefixing replies with "NAME ". Plain JS: runs without a build.
import http from 'node:http';
import dgram from 'node:dgram';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { name: { type: 'string' }, http: { type: 'string', default: '80' }, udp: { type: 'string', default: '53' }, echo: { type: 'string' } },
});
const name = values.name ?? 'real';

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
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
  res.end(`served-by ${name} client ${req.socket.remoteAddress}:${req.socket.remotePort}\n`);
});
server.keepAliveTimeout = 1000;
server.listen(Number(values.http), '0.0.0.0');

const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(Buffer.concat([Buffer.from(`${name} `), msg]), rinfo.port, rinfo.address));
udp.bind(Number(values.udp), '0.0.0.0');

// Optional TCP echo (--echo PORT): long-lived connections for tests that need them.
if (values.echo) net.createServer((c) => { c.on('error', () => {}); c.pipe(c); }).listen(Number(values.echo), '0.0.0.0');

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
console.log(`realserver ${name} http:${values.http} udp:${values.udp}`);
