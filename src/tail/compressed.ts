/**
 * Rotated copies that logrotate compressed (`compress` + `delaycompress`, as Debian's stunnel4 rotation does:
 * `path.1` stays plain, `path.2.gz` ... are gzip; `compresscmd xz`/`zstd`/`bzip2` give `.xz`, `.zst`, `.bz2`). A
 * checkpoint's file found only compressed after a long downtime is read through a decompressed temporary copy:
 * the checkpoint's offsets are offsets of the uncompressed bytes, so the follower reads it like any rotated file,
 * from the checkpoint's offset. gzip is decompressed in-process; the others by Debian's tools (`xz -dc`, ...).
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { FINGERPRINT_MAX, fingerprintOf } from './identity.js';
import { decompressorOf, withoutCompressedSuffix } from './compressed-names.js';

/**
 * The decompressed bytes of `file`; `onBytes` is told the file's own bytes as they are read (a progress bar measures
 * against the file's size). A failure is an 'error' of the stream carrying the file's `path` and a `code` (the
 * read's, zlib's, ENOENT for a missing tool, EIO for the tool's exit status, with its words in `detail`);
 * destroying the stream stops the tool.
 */
export function decompressed(file: string, onBytes?: (n: number) => void): Readable {
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  if (onBytes) raw.on('data', (b: Buffer | string) => onBytes(b.length));
  const tool = decompressorOf(file);
  if (!tool) {
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    raw.on('error', (e) => gunzip.destroy(e));
    gunzip.on('close', () => raw.destroy());
    return raw.pipe(gunzip);
  }
  const out = new PassThrough();
  const fail = (code: string, detail: string): Error => Object.assign(new Error(`${file}: ${detail}`), { path: file, code, detail });
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-500)));
  child.on('error', (e: NodeJS.ErrnoException) => out.destroy(e.code === 'ENOENT' ? fail('ENOENT', `${tool} is not installed`) : e));
  child.stdin.on('error', () => {}); // the tool quit early (a damaged archive): its exit status says why
  raw.on('error', (e) => {
    out.destroy(Object.assign(e, { path: file }));
    child.stdin.destroy();
  });
  raw.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  child.on('close', (code) => {
    if (code === 0) out.end();
    else if (code !== null) out.destroy(fail('EIO', `${tool} -dc failed (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`));
  });
  out.on('close', () => {
    raw.destroy();
    if (child.exitCode === null) child.kill();
  });
  return out;
}

/**
 * The fingerprint of the uncompressed content of a compressed file (its first line), decompressing only its
 * head. Null when the file is missing, unreadable, or not in its compression format.
 */
export async function compressedFingerprint(file: string): Promise<string | null> {
  const parts: Buffer[] = [];
  let got = 0;
  const stream = decompressed(file);
  try {
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        stream.destroy();
        resolve();
      };
      stream.on('error', (e) => (got > 0 ? done() : reject(e))); // a truncated archive still has its head
      stream.on('data', (b: Buffer) => {
        parts.push(b);
        got += b.length;
        if (got >= FINGERPRINT_MAX) done();
      });
      stream.on('end', done);
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
  const out = path.join(tmpDir, withoutCompressedSuffix(path.basename(file)));
  try {
    await pipeline(decompressed(file), createWriteStream(out));
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
