/**
 * The config file parser: good files → the apply op's DesiredConfig; bad files → every problem with its line,
 * path and rule, unknown keys with a near-miss hint.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../../src/config/file.js';
import { parseDuration } from '../../../src/config/file-schema.js';
import { nearMiss } from '../../../src/config/near-miss.js';

/** The error text for a file named f.yaml, or 'ok'. */
function errorOf(text: string): string {
  try {
    parseConfigText(text, 'f.yaml');
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
}

const svc = (body: string) => `services:\n  - proto: tcp\n    vip: 10.0.0.100:80\n${body}`;
const real = (body: string) => svc(`    reals:\n      - address: 10.0.1.11:8080\n${body}`);

describe('config file: good files', () => {
  it('converts a full service to the apply op\'s shape (absent fields stay absent: they take the defaults)', () => {
    const cfg = parseConfigText(`
version: 1
timeouts: { tcp: 15m, udp: 300 }
services:
  - proto: tcp
    vip: 10.0.0.100:80
    scheduler: sh
    sched_flags: [sh-port, sh-fallback]
    persistence: { timeout: 1h, netmask: 255.255.255.0 }
    local_addresses: [10.0.1.200]
    client_ip: toa
    healthcheck: { kind: http, interval: 1500ms, timeout: 1s, expect_status: 200, on_fail: remove, port: 8081 }
    reals:
      - { address: 10.0.1.11:8080, method: fullnat, weight: 3, u_threshold: 10, l_threshold: 5 }
      - { address: 10.0.1.12 }
  - { proto: udp, vip: "10.0.0.100:53" }
`);
    expect(cfg).toEqual({
      timeouts: { tcp: 900, udp: 300 },
      services: [
        {
          proto: 'tcp', vip: '10.0.0.100', vport: 80, scheduler: 'sh', schedFlags: ['sh-port', 'sh-fallback'], persistent: 3600,
          netmask: '255.255.255.0', laddrs: ['10.0.1.200'], clientIp: 'toa',
          health: { kind: 'http', intervalMs: 1500, timeoutMs: 1000, rise: 2, fall: 3, onFail: 'remove', source: 'host', port: 8081, expectStatus: [200] },
          reals: [
            { rip: '10.0.1.11', rport: 8080, method: 'fullnat', weight: 3, uthreshold: 10, lthreshold: 5 },
            { rip: '10.0.1.12' },
          ],
        },
        { proto: 'udp', vip: '10.0.0.100', vport: 53, health: null, reals: [] },
      ],
    });
  });

  it('reads JSON as well', () => {
    const cfg = parseConfigText('{"services": [{"proto": "tcp", "vip": "10.0.0.1:80", "reals": [{"address": "10.0.1.1", "method": "dr"}]}]}');
    expect(cfg.services[0]).toEqual({ proto: 'tcp', vip: '10.0.0.1', vport: 80, health: null, reals: [{ rip: '10.0.1.1', method: 'dr' }] });
  });

  it('parses durations: units, compounds, bare seconds', () => {
    expect([parseDuration('500ms'), parseDuration('2s'), parseDuration('1m30s'), parseDuration('1.5h'), parseDuration(3), parseDuration('2 s'), parseDuration('s')])
      .toEqual([500, 2000, 90_000, 5_400_000, 3000, undefined, undefined]);
  });

  it('suggests near misses: transpositions, a letter off, other separators; nothing for unrelated words', () => {
    expect([nearMiss('wieght', ['weight', 'method']), nearMiss('sheduler', ['scheduler']), nearMiss('tcpfin', ['tcp', 'tcp_fin']),
      nearMiss('expectStatus', ['expect_status']), nearMiss('colour', ['weight', 'method']), nearMiss('ab', ['xy'])])
      .toEqual(['weight', 'scheduler', 'tcp_fin', 'expect_status', undefined, undefined]);
  });
});

describe('config file: bad files, every problem named by line, path and rule', () => {
  it.each([
    ['weight out of range', real('        weight: 70000\n'), 'f.yaml:6: services[0].reals[0].weight: must be an integer in 0..65535'],
    ['misspelt key', real('        wieght: 3\n'), "f.yaml:6: services[0].reals[0]: unknown key 'wieght' — did you mean 'weight'?"],
    ['unknown key, nothing close', svc('    colour: blue\n'), "f.yaml:4: services[0]: unknown key 'colour'"],
    ['misspelt top-level key', 'service: []\n', "f.yaml:1: services: is required\nf.yaml:1: unknown key 'service' — did you mean 'services'?"],
    ['bad enum, with a hint', 'services:\n  - { proto: tpc, vip: 10.0.0.1:80 }\n', "f.yaml:2: services[0].proto: 'tpc' is not one of tcp, udp — did you mean 'tcp'?"],
    ['unknown scheduler', svc('    scheduler: wrl\n'), "f.yaml:4: services[0].scheduler: 'wrl' is not a scheduler: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, maglev — did you mean 'wrr'?"],
    ['bad method', real('        method: masq\n'), "f.yaml:6: services[0].reals[0].method: 'masq' is not one of nat, dr, tun, fullnat"],
    ['VIP without port', 'services:\n  - proto: tcp\n    vip: 10.0.0.100\n', 'f.yaml:3: services[0].vip: must be an IPv4 address and port, such as 10.0.0.100:80'],
    ['VIP missing', 'services:\n  - proto: tcp\n', 'f.yaml:2: services[0].vip: is required'],
    ['bad real address', svc('    reals: [{ address: 10.0.1.256 }]\n'), 'f.yaml:4: services[0].reals[0].address: must be an IPv4 address with an optional port, such as 10.0.1.11:8080'],
    ['reals not a list', svc('    reals: 10.0.1.1\n'), 'f.yaml:4: services[0].reals: must be a list'],
    ['services a mapping', 'services: {}\n', 'f.yaml:1: services: must be a list'],
    ['service not a mapping', 'services: [tcp]\n', 'f.yaml:1: services[0]: must be a mapping (key: value)'],
    ['bad local address', svc('    local_addresses: [10.0.1]\n'), 'f.yaml:4: services[0].local_addresses[0]: must be an IPv4 address (a.b.c.d)'],
    ['bad mh table size', svc('    mh_table_size: 4000\n'), 'f.yaml:4: services[0].mh_table_size: must be one of 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 65537, 131071 (a prime; default 4093)'],
    ['persistence without timeout', svc('    persistence: { netmask: 255.255.255.0 }\n'), 'f.yaml:4: services[0].persistence.timeout: is required'],
    ['fractional seconds', 'timeouts: { tcp: 1500ms }\nservices: []\n', 'f.yaml:1: timeouts.tcp: must be a whole number of seconds'],
    ['timeout too long', 'timeouts:\n  udp: 32d\nservices: []\n', 'f.yaml:2: timeouts.udp: must be a duration such as 500ms, 2s or 1m30s (a bare number is seconds)'],
    ['timeout zero', 'timeouts:\n  udp: 0\nservices: []\n', 'f.yaml:2: timeouts.udp: must be from 1s to 2678400s'],
    ['bad duration', svc('    healthcheck: { kind: tcp, interval: 2 seconds }\n'), 'f.yaml:4: services[0].healthcheck.interval: must be a duration such as 500ms, 2s or 1m30s (a bare number is seconds)'],
    ['health kind missing', svc('    healthcheck:\n      interval: 2s\n'), 'f.yaml:5: services[0].healthcheck.kind: is required'],
    ['health: contract rule (exec needs a command)', svc('    healthcheck: { kind: exec }\n'), 'f.yaml:4: services[0].healthcheck.kind: exec needs command'],
    ['health: contract rule (path)', svc('    healthcheck:\n      kind: http\n      path: healthz\n'), 'f.yaml:6: services[0].healthcheck.path: must start with "/"'],
    ['health: contract range in ms', svc('    healthcheck:\n      kind: tcp\n      interval: 50ms\n'), 'f.yaml:6: services[0].healthcheck.interval: must be from 100ms to 3600000ms, got 50ms'],
    ['health: timeout above interval', svc('    healthcheck: { kind: tcp, interval: 1s, timeout: 2s }\n'), 'f.yaml:4: services[0].healthcheck.timeout: must not exceed interval'],
    ['health: misspelt key', svc('    healthcheck: { kind: http, expectStatus: 200 }\n'), "f.yaml:4: services[0].healthcheck: unknown key 'expectStatus' — did you mean 'expect_status'?"],
    ['version', 'version: 2\nservices: []\n', 'f.yaml:1: version: must be 1 (the only version of this format)'],
    ['empty file', '# nothing\n', "f.yaml: the file is empty (a config has at least 'services:')"],
    ['YAML syntax: duplicate key', 'services: []\nservices: []\n', 'f.yaml:2: YAML: Map keys must be unique'],
    ['YAML syntax: unclosed flow', 'services: [\n', 'f.yaml:2: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
  ])('%s', (_what, text, message) => {
    expect(errorOf(text)).toBe(message);
  });

  it('reports every problem of a file, in file order', () => {
    const text = `timeouts:
  tcpfin: 2m
services:
  - proto: tcp
    vip: 10.0.0.100:80
    sheduler: wlc
    reals:
      - address: 10.0.1.11:8080
        method: nta
        wieght: 3
      - address: 10.0.1.12:8080
        weight: -1
`;
    expect(errorOf(text).split('\n')).toEqual([
      "f.yaml:2: timeouts: unknown key 'tcpfin' — did you mean 'tcp_fin'?",
      "f.yaml:6: services[0]: unknown key 'sheduler' — did you mean 'scheduler'?",
      "f.yaml:9: services[0].reals[0].method: 'nta' is not one of nat, dr, tun, fullnat — did you mean 'nat'?",
      "f.yaml:10: services[0].reals[0]: unknown key 'wieght' — did you mean 'weight'?",
      'f.yaml:12: services[0].reals[1].weight: must be an integer in 0..65535',
    ]);
    try {
      parseConfigText(text, 'f.yaml');
    } catch (err) {
      expect((err as ConfigError).issues[0]).toEqual({ path: 'timeouts', message: "unknown key 'tcpfin' — did you mean 'tcp_fin'?", line: 2 });
    }
  });
});
