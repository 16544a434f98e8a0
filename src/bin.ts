#!/usr/bin/env node
import { main } from './cli.js';

// The reader of the output went away. A one-shot command (`scan --json log | head`) stops quietly, as a pipeline
// expects, instead of an unhandled EPIPE with its stack trace; the sidecar (`watch --events-out -`) says so and
// exits 1, so that its supervisor restarts it.
const sidecar = process.argv[2] === 'watch';
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    if (!sidecar) process.exit(process.exitCode ?? 0);
    if (stream === process.stdout) process.stderr.write('stunnel-doctor: standard output was closed (EPIPE); stopping\n');
    process.exit(1);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`stunnel-doctor: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 2;
  },
);
