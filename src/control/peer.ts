/**
 * Who may talk to the control socket. The socket file is the first gate (mode 0600, owner root or the daemon's
 * user; with `--socket-group` 0660 and that group); the kernel-recorded credentials of each connecting process
 * (SO_PEERCRED, native peerCred) are the second, so a socket file whose mode was loosened, or reached through
 * a bind mount or another namespace, still admits only: uid 0, the daemon's own uid, or a member of the
 * configured group (its primary gid, or a supplementary group read from /proc/PID/status).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LbError } from '../errors.js';
import { native } from '../io/native.js';

export interface SocketGroup {
  name: string;
  gid: number;
}

/** Resolves `--socket-group`: a group name (NSS, via getent, then /etc/group) or a numeric gid. */
export function resolveGroup(name: string): SocketGroup {
  if (/^\d+$/.test(name)) return { name, gid: Number(name) };
  let line = '';
  try {
    line = execFileSync('getent', ['group', name], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    try {
      line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[0] === name) ?? '';
    } catch {
      line = '';
    }
  }
  const gid = Number(line.trim().split(':')[2]);
  if (!line || !Number.isInteger(gid)) throw new LbError('EINVAL', `--socket-group: no such group "${name}"`);
  return { name, gid };
}

/** Supplementary groups of a live process (empty when it is gone or unreadable). */
function supplementaryGroups(pid: number): number[] {
  try {
    const m = /^Groups:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? m[1]!.trim().split(/\s+/).filter(Boolean).map(Number) : [];
  } catch {
    return [];
  }
}

export interface PeerVerdict {
  allowed: boolean;
  pid: number;
  uid: number;
  gid: number;
  /** Why the peer was refused (or '' when allowed). */
  reason: string;
}

/** Checks the peer of connected Unix socket `fd` against the rule above. Fails closed. */
export function checkPeer(fd: number, group: SocketGroup | null): PeerVerdict {
  let cred: ReturnType<typeof native.peerCred>;
  try {
    cred = native.peerCred(fd);
  } catch (err) {
    return { allowed: false, pid: -1, uid: -1, gid: -1, reason: `cannot read peer credentials: ${(err as Error).message}` };
  }
  if (typeof cred === 'number') return { allowed: false, pid: -1, uid: -1, gid: -1, reason: `SO_PEERCRED failed (${cred})` };
  const { pid, uid, gid } = cred;
  const self = process.getuid?.() ?? 0;
  if (uid === 0 || uid === self) return { allowed: true, pid, uid, gid, reason: '' };
  if (group && (gid === group.gid || supplementaryGroups(pid).includes(group.gid))) return { allowed: true, pid, uid, gid, reason: '' };
  const who = group ? `uid 0, uid ${self} or group ${group.name} (${group.gid})` : `uid 0 or uid ${self}`;
  return { allowed: false, pid, uid, gid, reason: `uid ${uid} gid ${gid} is not ${who}` };
}
