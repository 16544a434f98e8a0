/**
 * `scan` of compressed rotated copies (logrotate `compress`: `ldaps.log.2.gz`): read decompressed, as `zcat`
 * would, in the order given with the plain files of the same proxy; a damaged archive is a clear error (exit 2)
 * naming the file. Real stunnel 5.68 logs from fixtures/, gzip-compressed here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { scanFiles, type DoctorEvent } from '../src/index.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIX = (p: string): string => join(REPO, 'fixtures', p);
const brief = (e: DoctorEvent) => `${e.proxy}:${e.kind}/${e.reason}/${e.service}/${e.connection}@${e.source.offsets.join(',')}`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-gz-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scan of compressed rotated copies', () => {
  it('finds the same events in ldaps.log.2.gz as in the plain log, and continues into the next file', async () => {
    const older = readFileSync(FIX('unknown-ca/d5.log'));
    const newer = readFileSync(FIX('connect-refused/d5.log'));
    writeFileSync(join(dir, 'plain.log.2'), older);
    writeFileSync(join(dir, 'ldaps.log.2.gz'), gzipSync(older));
    writeFileSync(join(dir, 'ldaps.log.1'), newer);
    const plain = await scanFiles([join(dir, 'plain.log.2'), join(dir, 'ldaps.log.1')], { proxy: 'ldaps' });
    const gz = await scanFiles([join(dir, 'ldaps.log.2.gz'), join(dir, 'ldaps.log.1')]);
    expect(gz.events.length).toBeGreaterThan(1);
    expect(gz.events.map(brief)).toEqual(plain.events.map(brief));
    // Bytes read are the file's bytes (what a progress bar measures against the file sizes).
    expect(gz.stats.bytes).toBe(gzipSync(older).length + newer.length);
    expect(gz.stats.lines).toEqual(plain.stats.lines);
  });

  it('reads xz, zstd and bzip2 copies (logrotate compresscmd) through Debian\'s tools, the same as the plain log', async () => {
    const older = readFileSync(FIX('unknown-ca/d5.log'));
    writeFileSync(join(dir, 'plain.log.2'), older);
    const plain = await scanFiles([join(dir, 'plain.log.2')], { proxy: 'ldaps' });
    for (const [ext, tool] of [['xz', 'xz'], ['zst', 'zstd'], ['bz2', 'bzip2']] as const) {
      const packed = spawnSync(tool, ['-c'], { input: older });
      expect(packed.status, tool).toBe(0);
      const f = join(dir, `ldaps.log.2.${ext}`);
      writeFileSync(f, packed.stdout);
      const got = await scanFiles([f]);
      expect(got.events.map(brief), tool).toEqual(plain.events.map(brief));
      expect(got.stats.bytes, tool).toBe(packed.stdout.length);
    }
    // A damaged one: exit 2, the file and the tool's own words.
    const bad = join(dir, 'broken.log.5.xz');
    writeFileSync(bad, readFileSync(join(dir, 'ldaps.log.2.xz')).subarray(0, 60));
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'scan', bad], { cwd: REPO, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`cannot read ${bad}: EIO (xz -dc failed (exit 1): xz: (stdin): Unexpected end of input)`);
  });

  it('a damaged archive: exit 2 and a message naming it', () => {
    const good = gzipSync(readFileSync(FIX('expired/d5.log')));
    const bad = join(dir, 'broken.log.3.gz');
    writeFileSync(bad, Buffer.concat([good.subarray(0, 10), Buffer.from('not deflate data at all, not at all'), good.subarray(60)]));
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'scan', bad], { cwd: REPO, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^stunnel-doctor: cannot read ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: Z_DATA_ERROR`));
  });
});
