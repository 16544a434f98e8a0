#!/usr/bin/env node
/**
 * The library side of the live benchmarks: `createDoctor()` from a build's dist/, in its own process.
 *   node bench/lib-child.mjs '{"dist": "/path/dist", "proxies": [...], "stateDir": "..."}'
 * Prints `t0 <ms>` just before createDoctor (modules already loaded), `created <ms>` when it resolved, and
 * `ev <ms> <kind> <connection> <proxy>` for each event on events$ (ms: process.hrtime, CLOCK_MONOTONIC, comparable
 * across processes). Stops on SIGTERM.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const o = JSON.parse(process.argv[2]);
const { createDoctor } = await import(pathToFileURL(join(o.dist, 'doctor.js')).href);
const ms = () => (Number(process.hrtime.bigint()) / 1e6).toFixed(3);
const out = [];
const flush = () => {
  if (out.length) process.stdout.write(out.splice(0).join(''));
};
process.stdout.write(`t0 ${ms()}\n`);
const d = await createDoctor({
  proxies: o.proxies,
  ...(o.stateDir ? { stateDir: o.stateDir } : {}),
  ...(o.pollMs ? { pollMs: o.pollMs } : {}),
});
// Subscribed right after createDoctor resolves: reading starts on the next turn, so nothing is missed.
d.events$.subscribe((e) => {
  out.push(`ev ${ms()} ${e.kind} ${e.connection} ${e.proxy}\n`);
  if (out.length === 1) queueMicrotask(flush);
});
process.stdout.write(`created ${ms()}\n`);
process.on('SIGTERM', async () => {
  flush();
  await d.close?.();
  process.exit(0);
});
