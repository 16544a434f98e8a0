/**
 * Which events a stream shows: the same choice for `/events` (`?proxy=`, `?kind=`, `?failures=1`) and for `scan`'s
 * printed events (`--kind`, `--failures`). A failure here is an event of severity error or critical: what makes `scan`
 * exit 1 and its report count a failure (`isFailure` of events.ts, a failure kind, is what diagnose() returns).
 */
import { KINDS, isKind, severityAtLeast, type DoctorEvent, type Kind } from '../events.js';

export interface EventFilterSpec {
  /** Only these proxies (empty: all). */
  proxies?: ReadonlySet<string>;
  /** Only these kinds (empty: all). */
  kinds?: ReadonlySet<Kind>;
  /** Only events of severity error or critical. */
  failuresOnly?: boolean;
}

/** The test of a spec; null when it keeps every event. */
export function eventFilter(spec: EventFilterSpec): ((e: DoctorEvent) => boolean) | null {
  const proxies = spec.proxies?.size ? spec.proxies : null;
  const kinds = spec.kinds?.size ? spec.kinds : null;
  const failuresOnly = spec.failuresOnly === true;
  if (!proxies && !kinds && !failuresOnly) return null;
  return (e) => (!proxies || proxies.has(e.proxy)) && (!kinds || kinds.has(e.kind)) && (!failuresOnly || severityAtLeast(e.severity, 'error'));
}

/**
 * Kinds given as a list of values, each possibly comma-separated (`--kind a,b --kind c`, `?kind=a,b&kind=c`);
 * `unknown` names the values that are not kinds, for a message that lists the known ones (KINDS).
 */
export function parseKinds(values: readonly string[]): { kinds: Set<Kind>; unknown: string[] } {
  const kinds = new Set<Kind>();
  const unknown: string[] = [];
  for (const v of values.flatMap((x) => x.split(','))) {
    const k = v.trim();
    if (k === '') continue;
    if (isKind(k)) kinds.add(k);
    else unknown.push(k);
  }
  return { kinds, unknown };
}

/** The message for unknown kinds: what was given and what exists. */
export function unknownKindsMessage(unknown: readonly string[]): string {
  return `unknown event kind${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (kinds: ${KINDS.join(', ')})`;
}
