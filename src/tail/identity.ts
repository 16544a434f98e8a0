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

/**
 * Stable event id: the same concluding line of the same file content always gives the same id. Two
 * independent 32-bit FNV-1a/murmur-mixed hashes of (proxy, fingerprint, offset): 64 bits, no crypto call on
 * the per-event path.
 */
export function eventId(proxy: string, fingerprint: string, offset: number): string {
  // The hash of `${proxy}\0${fingerprint}\0${offset}`, with the state after the constant head memoised
  // (per head and total length: h2 starts from the length) and the offset's digits hashed without a string.
  if (!(Number.isSafeInteger(offset) && offset >= 0)) return eventIdOf(`${proxy}\0${fingerprint}\0${offset}`);
  let nd = 1;
  for (let v = offset; v >= 10; v = Math.floor(v / 10)) nd++;
  const headLen = proxy.length + fingerprint.length + 2;
  if (proxy !== memoProxy || fingerprint !== memoFp) {
    memoProxy = proxy;
    memoFp = fingerprint;
    memoHead.fill(-1);
  }
  let h1: number;
  let h2: number;
  if (memoHead[nd * 2]! !== -1) {
    h1 = memoHead[nd * 2]!;
    h2 = memoHead[nd * 2 + 1]!;
  } else {
    const head = `${proxy}\0${fingerprint}\0`;
    h1 = 0x811c9dc5;
    h2 = 0x01000193 ^ (headLen + nd);
    for (let i = 0; i < head.length; i++) {
      const c = head.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    memoHead[nd * 2] = h1 >>> 0;
    memoHead[nd * 2 + 1] = h2 >>> 0;
  }
  let div = 1;
  for (let i = 1; i < nd; i++) div *= 10;
  for (let v = offset; div >= 1; div /= 10) {
    const d = Math.floor(v / div);
    v -= d * div;
    const c = 48 + d;
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  return finish(h1, h2);
}

let memoProxy = '';
let memoFp = '';
/** Per digit count of the offset (1-16): h1, h2 after the head; -1 when not computed. */
const memoHead = new Float64Array(34).fill(-1);

function eventIdOf(s: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  return finish(h1, h2);
}

function finish(h1: number, h2: number): string {
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0xc2b2ae35);
  h2 ^= h2 >>> 16;
  return hex32(h1 >>> 0) + hex32(h2 >>> 0);
}

const HEX_BYTE: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** `n.toString(16).padStart(8, '0')` for an unsigned 32-bit n, from a byte table. */
function hex32(n: number): string {
  return HEX_BYTE[n >>> 24]! + HEX_BYTE[(n >>> 16) & 255]! + HEX_BYTE[(n >>> 8) & 255]! + HEX_BYTE[n & 255]!;
}
