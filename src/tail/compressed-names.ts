/**
 * The names of compressed rotated copies (`path.2.gz`, `.xz`, `.zst`, `.bz2`), apart from their decompression
 * (compressed.ts): `scan` of a plain log asks only whether a name is compressed, and does not load zlib and
 * child_process for it.
 */
import path from 'node:path';

/** The suffixes logrotate gives compressed copies, gzip (its default) first, and the tool of the others. */
export const COMPRESSED_SUFFIXES = ['.gz', '.xz', '.zst', '.bz2'] as const;
const TOOLS: Readonly<Record<string, string>> = { '.xz': 'xz', '.zst': 'zstd', '.bz2': 'bzip2' };

/** The tool that decompresses `file` (`xz`, `zstd`, `bzip2`; gzip needs none), or null. */
export function decompressorOf(file: string): string | null {
  return TOOLS[path.extname(file)] ?? null;
}

/** Whether `name` is a compressed copy (read whole, decompressed; never followed). */
export function isCompressedName(name: string): boolean {
  return COMPRESSED_SUFFIXES.some((x) => name.endsWith(x));
}

/** `name` without its compression suffix (`x.2.gz` → `x.2`), or unchanged. */
export function withoutCompressedSuffix(name: string): string {
  const s = COMPRESSED_SUFFIXES.find((x) => name.endsWith(x));
  return s ? name.slice(0, -s.length) : name;
}
