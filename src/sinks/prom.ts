/**
 * The three prom-client classes stunnel-doctor uses, loaded from their own modules. prom-client's index also
 * loads what is never used here (default process metrics with @opentelemetry/api, pushgateway, cluster,
 * histogram and summary with their tree libraries): about 60 files at every start. These are the same module
 * instances the index exports, so a Registry made with `import { Registry } from 'prom-client'` works with them.
 */
import { createRequire } from 'node:module';
import type * as P from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry.js') as typeof P.Registry;
export const Counter = require('prom-client/lib/counter.js') as typeof P.Counter;
export const Gauge = require('prom-client/lib/gauge.js') as typeof P.Gauge;
export type Registry = P.Registry;
export type Counter<T extends string = string> = P.Counter<T>;
export type Gauge<T extends string = string> = P.Gauge<T>;
