/**
 * Rotated copies that logrotate compressed (`compress` + `delaycompress`, as Debian's stunnel4 rotation does:
 * `path.1` stays plain, `path.2.gz` ... are gzip). A checkpoint's file found only compressed after a long
 * downtime is read through a decompressed temporary copy: the checkpoint's offsets are offsets of the
 * uncompressed bytes, so the follower reads it like any rotated file, from the checkpoint's offset.
 */
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { FINGERPRINT_MAX, fingerprintOf } from './identity.js';

/** The suffix logrotate gives compressed copies (its default `compressext` for gzip). */
export const COMPRESSED_SUFFIX = '.gz';

/**
 * The fingerprint of the uncompressed content of a gzip file (its first line), decompressing only its head.
 * Null when the file is missing, unreadable, or not gzip.
 */
export async function compressedFingerprint(file: string): Promise<string | null> {
  const parts: Buffer[] = [];
  let got = 0;
  const src = createReadStream(file, { highWaterMark: 16 * 1024 });
  const gunzip = createGunzip();
  try {
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        src.destroy();
        gunzip.destroy();
        resolve();
      };
      src.on('error', reject);
      gunzip.on('error', (e) => (got > 0 ? done() : reject(e))); // a truncated archive still has its head
      gunzip.on('data', (b: Buffer) => {
        parts.push(b);
        got += b.length;
        if (got >= FINGERPRINT_MAX) done();
      });
      gunzip.on('end', done);
      src.pipe(gunzip);
    });
  } catch {
    return null;
  }
  return fingerprintOf(Buffer.concat(parts).subarray(0, FINGERPRINT_MAX));
}

/**
 * Decompresses `file` into a new temporary file and returns its path (the caller opens, then removes it). A
 * truncated archive gives what could be decompressed.
 */
export async function decompressToTemp(file: string, dir = tmpdir()): Promise<string> {
  const tmpDir = await fsp.mkdtemp(path.join(dir, 'stunnel-doctor-gz-'));
  const out = path.join(tmpDir, path.basename(file, COMPRESSED_SUFFIX));
  try {
    await pipeline(createReadStream(file), createGunzip(), createWriteStream(out));
  } catch (e) {
    const size = await fsp.stat(out).then((s) => s.size, () => 0);
    if (size === 0) {
      await fsp.rm(tmpDir, { recursive: true, force: true });
      throw e;
    }
  }
  return out;
}

/** Removes a temporary copy made by decompressToTemp (an open handle keeps its bytes readable). */
export async function removeTemp(tmp: string): Promise<void> {
  await fsp.rm(path.dirname(tmp), { recursive: true, force: true }).catch(() => {});
}
