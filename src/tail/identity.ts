import { createHash } from 'node:crypto';

/**
 * A file's identity is the fingerprint of its first line (up to FINGERPRINT_MAX bytes): the same content
 * keeps the same identity through a rename, a copy (copytruncate's `.1`) and a restart, while a file
 * recreated or overwritten in place (stunnel's `log = overwrite`) starts with a new banner line and gets a
 * new one. Event ids are derived from (proxy, fingerprint, byte offset), so the same line read by `scan`
 * or by the follower, before or after a crash, yields the same id.
 */
export const FINGERPRINT_MAX = 1024;

/** Fingerprint of a file head; '' while the file has no complete first line (and is shorter than the cap). */
export function fingerprintOf(head: Buffer): string {
  let end = head.indexOf(10);
  if (end < 0) {
    if (head.length < FINGERPRINT_MAX) return '';
    end = FINGERPRINT_MAX;
  }
  return createHash('sha1').update(head.subarray(0, Math.min(end, FINGERPRINT_MAX))).digest('hex').slice(0, 16);
}

/** Stable event id: the same concluding line of the same file content always gives the same id. */
export function eventId(proxy: string, fingerprint: string, offset: number): string {
  return createHash('sha1').update(`${proxy}\0${fingerprint}\0${offset}`).digest('base64url').slice(0, 16);
}
