/**
 * Fault: a checkpoint file is corrupt at start (torn by an old non-atomic writer, a disk error, a hand edit).
 * It is reported by name and ignored: that one followed file starts fresh (from 0), the others resume, and
 * the next commit replaces the corrupt file with a valid one. Leftover temp files of an interrupted write are
 * removed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore, parseCheckpointFile } from '../../src/tail/checkpoint.js';
import { Collector, Lines, recordingLogger, Scratch, settle, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

describe('corrupt checkpoint', () => {
  it('reports it by name, starts that file fresh, keeps the others, and repairs it on the next commit', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const stateDir = path.join(dir, 'state');
    const p = path.join(dir, 'stunnel.log');
    const q = path.join(dir, 'other.log');

    // A valid checkpoint for q, written by the store itself.
    const q0 = new Written().append(q, lines.take(2));
    const first = await CheckpointStore.open(stateDir, { debounceMs: 10 });
    const colQ0 = new Collector();
    const fq0 = await s.follow({ path: q, store: first, autoCommit: true }, colQ0);
    await settle(fq0, colQ0, 2);
    await fq0.stop();

    // A torn file for p, a file with a bad field, and a temp file of an interrupted write.
    writeFileSync(first.fileFor(p), `{"version":1,"key":${JSON.stringify(p)},"record":{"path":`);
    const badField = path.join(stateDir, 'bad.0123456789ab.json');
    writeFileSync(badField, JSON.stringify({ version: 1, key: 'x', record: { path: 'x', dev: 1, ino: 2, fingerprint: '', offset: -5, size: 0, updatedAt: '' } }));
    const tmp = path.join(stateDir, '.other.log.0123456789ab.json.tmp');
    writeFileSync(tmp, '{"version":1');

    const { logger, records } = recordingLogger();
    const store = await CheckpointStore.open(stateDir, { debounceMs: 10, logger });
    expect(store.corrupt.map((c) => c.file).sort()).toEqual([badField, store.fileFor(p)].sort());
    expect(store.corrupt.find((c) => c.file === badField)!.error).toMatch(/offset/);
    for (const c of store.corrupt) {
      expect(records).toContainEqual(expect.objectContaining({ level: 'warn', obj: expect.objectContaining({ file: c.file }) }));
    }
    expect(existsSync(tmp)).toBe(false);
    expect(store.get(p)).toBeUndefined();
    expect(store.get(q)).toMatchObject({ offset: q0.end });

    const w = new Written().append(p, lines.take(3));
    const col = new Collector();
    const f = await s.follow({ path: p, store, autoCommit: true }, col);
    expect(await settle(f, col, 3)).toEqual(w.expected());
    expect(col.noticesOf('opened')).toEqual([expect.objectContaining({ resume: 'beginning', offset: 0 })]);

    q0.append(q, lines.take(1));
    const colQ = new Collector();
    const fq = await s.follow({ path: q, store, autoCommit: true }, colQ);
    expect(await settle(fq, colQ, 1)).toEqual(q0.expected(q0.lines[2]!.offset));

    await f.stop();
    const repaired = parseCheckpointFile(readFileSync(store.fileFor(p), 'utf8'));
    expect(repaired).toMatchObject({ key: p, record: { offset: w.end, fingerprint: w.fingerprint } });
  });
});
