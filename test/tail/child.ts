/**
 * A separate process for the tests that need one (kill -9, signals, another uid). Not a test file.
 *
 *   node --import tsx test/tail/child.ts follow <path> <stateDir>
 *       follows <path> with a checkpoint store, commits after each chunk, prints one JSON line per
 *       delivered line ({fp, offset, text}) and {"ready":true} once started. Runs until killed.
 *   node --import tsx test/tail/child.ts signal <stateDir> <key> <offset>
 *       sets a checkpoint with a one-hour write period, installs flushOnSignals, prints {"ready":true}.
 *   node --import tsx test/tail/child.ts permission  < lines.json
 *       runs the permission-denied scenario in this process (meant to run as an unprivileged uid) with the
 *       fixture lines given on stdin (a JSON array of latin1 strings) and prints its result as one JSON line.
 */
import { writeSync } from 'node:fs';
import { CheckpointStore, flushOnSignals } from '../../src/tail/checkpoint.js';
import { FileFollower } from '../../src/tail/follower.js';

const out = (o: unknown) => writeSync(1, JSON.stringify(o) + '\n');
const [mode, ...args] = process.argv.slice(2);

if (mode === 'follow') {
  const [p, stateDir] = args as [string, string];
  const store = await CheckpointStore.open(stateDir, { debounceMs: 20 });
  const f = new FileFollower({
    path: p,
    store,
    pollMs: 50,
    onChunk: (chunk, file) => {
      let start = 0;
      for (let nl = chunk.buf.indexOf(10); nl >= 0; nl = chunk.buf.indexOf(10, start)) {
        out({ fp: file.fingerprint, offset: chunk.baseOffset + start, text: chunk.buf.subarray(start, nl + 1).toString('latin1') });
        start = nl + 1;
      }
      f.commit(chunk.endOffset);
    },
  });
  await f.start();
  out({ ready: true });
  setInterval(() => {}, 1 << 30);
} else if (mode === 'signal') {
  const [stateDir, key, offset] = args as [string, string, string];
  const store = await CheckpointStore.open(stateDir, { debounceMs: 3_600_000 });
  store.set(key, { path: key, dev: 1, ino: 2, fingerprint: 'abc', offset: Number(offset), size: Number(offset), state: { open: 1 } });
  flushOnSignals(store);
  out({ ready: true, dirty: store.stats().dirty });
  setInterval(() => {}, 1 << 30);
} else if (mode === 'permission') {
  const { runPermissionScenario } = await import('./permission-scenario.js');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const source = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as string[]).map((l) => Buffer.from(l, 'latin1'));
  out(await runPermissionScenario(source));
  process.exit(0);
} else {
  throw new Error(`unknown mode ${mode}`);
}
