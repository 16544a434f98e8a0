/**
 * Where logrotate puts a log's older copies, newest first: `path.1` … `path.5` (numbered, Debian's default), then
 * `path-YYYYMMDD` (`dateext`, the default on Red Hat-like systems; `-YYYYMMDDHH` hourly) found in the directory,
 * most recent date first. Compressed copies (`.gz`, `.xz`, `.zst`, `.bz2`) are listed by their plain name: the
 * follower tries the suffixes itself.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { withoutCompressedSuffix } from './compressed-names.js';

/** At most this many dated copies are considered (a year of daily rotations would be too many to open). */
const MAX_DATED = 10;

/**
 * Directory listings, kept while the directory's mtime stays the same (any entry added, removed or renamed changes
 * it): the follower asks at every check, for every file of a directory, and a stat costs less than a listing.
 */
const listings = new Map<string, { mtimeNs: bigint; entries: string[] }>();

function cachedReaddir(dir: string): string[] {
  const mtimeNs = statSync(dir, { bigint: true }).mtimeNs;
  const hit = listings.get(dir);
  // A directory changed within the last second is listed again: a change in the same clock tick as the last
  // listing may have left its mtime as it was.
  const settled = BigInt(Date.now()) * 1_000_000n - mtimeNs > 1_000_000_000n;
  if (hit && hit.mtimeNs === mtimeNs && settled) return hit.entries;
  const entries = readdirSync(dir);
  if (listings.size > 256) listings.clear();
  listings.set(dir, { mtimeNs, entries });
  return entries;
}

/**
 * `forWatch`: only the numbered names (the follower watches them at every check; a dated copy is looked for when
 * searching, which lists the directory).
 */
export function logrotateNames(p: string, forWatch = false, readdir: (dir: string) => string[] = cachedReaddir): string[] {
  const numbered = [1, 2, 3, 4, 5].map((i) => `${p}.${i}`);
  if (forWatch) return numbered;
  const dir = path.dirname(p);
  const base = path.basename(p);
  let entries: string[];
  try {
    entries = readdir(dir);
  } catch {
    return numbered;
  }
  const dated = new Set<string>();
  for (const n of entries) {
    const plain = withoutCompressedSuffix(n);
    if (plain.length > base.length + 1 && plain.startsWith(`${base}-`) && /^\d{8,10}$/.test(plain.slice(base.length + 1))) dated.add(plain);
  }
  return [...numbered, ...[...dated].sort().reverse().slice(0, MAX_DATED).map((n) => path.join(dir, n))];
}
