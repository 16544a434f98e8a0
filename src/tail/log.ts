/**
 * The tail layer logs through this minimal, pino-compatible shape (`logger.warn({obj}, 'msg')`), so a pino
 * logger or child can be passed as is and tests can pass a recorder. Without a logger nothing is logged.
 */
export type LogFn = (obj: object, msg?: string) => void;

export interface TailLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop: LogFn = () => {};
export const silentLogger: TailLogger = { debug: noop, info: noop, warn: noop, error: noop };

/** `err` as pino's err serializer would want it, but as plain strings (notices must be JSON-loggable). */
export function errInfo(err: unknown): { error: string; code?: string } {
  if (err && typeof err === 'object') {
    const e = err as { message?: unknown; code?: unknown };
    const out: { error: string; code?: string } = { error: String(e.message ?? err) };
    if (typeof e.code === 'string') out.code = e.code;
    return out;
  }
  return { error: String(err) };
}
