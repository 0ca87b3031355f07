/**
 * LbError: every error that crosses a boundary (control API, CLI, native wrapper) carries a stable `code`.
 * Codes for configuration errors follow the errno values libipvs maps to ipvsadm's messages, so the CLI
 * can print exactly what ipvsadm prints.
 */
export type LbErrorCode =
  | 'EEXIST_SERVICE'
  | 'ESRCH_SERVICE'
  | 'ENOENT_SCHEDULER'
  | 'ESRCH_DEST_SERVICE'
  | 'EEXIST_DEST'
  | 'ENOENT_DEST'
  | 'EINVAL'
  | 'ERANGE'
  | 'EBADREQ'
  | 'ETOOBIG'
  | 'EPERM'
  | 'EIO'
  | 'ENATIVE';

export class LbError extends Error {
  readonly code: LbErrorCode;
  constructor(code: LbErrorCode, message: string) {
    super(message);
    this.name = 'LbError';
    this.code = code;
  }
}

/** ipvsadm's texts (libipvs ipvs_strerror) for each code. */
export const IPVS_MESSAGES: Partial<Record<LbErrorCode, string>> = {
  EEXIST_SERVICE: 'Service already exists',
  ESRCH_SERVICE: 'No such service',
  ENOENT_SCHEDULER: 'Scheduler or persistence engine not found',
  ESRCH_DEST_SERVICE: 'Service not defined',
  EEXIST_DEST: 'Destination already exists',
  ENOENT_DEST: 'No such destination',
  ERANGE: 'Numerical result out of range',
  EPERM: 'Permission denied (you must be root)',
};

export const serviceExists = () => new LbError('EEXIST_SERVICE', IPVS_MESSAGES.EEXIST_SERVICE!);
export const noSuchService = () => new LbError('ESRCH_SERVICE', IPVS_MESSAGES.ESRCH_SERVICE!);
export const serviceNotDefined = () => new LbError('ESRCH_DEST_SERVICE', IPVS_MESSAGES.ESRCH_DEST_SERVICE!);
export const unknownScheduler = () => new LbError('ENOENT_SCHEDULER', IPVS_MESSAGES.ENOENT_SCHEDULER!);
export const destExists = () => new LbError('EEXIST_DEST', IPVS_MESSAGES.EEXIST_DEST!);
export const noSuchDest = () => new LbError('ENOENT_DEST', IPVS_MESSAGES.ENOENT_DEST!);
export const invalid = (msg: string) => new LbError('EINVAL', msg);

/**
 * A user-supplied value for an error message: its JSON, cut to `max` characters; never throws (a deeply nested
 * or cyclic value is named by its type).
 */
export function showValue(v: unknown, max = 60): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    text = undefined;
  }
  if (text === undefined) text = Array.isArray(v) ? 'an array' : typeof v;
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
