/**
 * The YAML parser and the schema library, loaded on first use through their CommonJS builds (synchronously): the
 * package's entry exports parseRuleFile, which is synchronous, and a program that imports the package for `scan` or
 * `createDoctor` would otherwise load both (~120 ms) for nothing. Every module takes them from here, so that one copy
 * of each is loaded.
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type * as Zod from 'zod';

const load = createRequire(import.meta.url);
let yaml: typeof Yaml | null = null;
let zod: typeof Zod | null = null;

export function yamlLib(): typeof Yaml {
  return (yaml ??= load('yaml') as typeof Yaml);
}

export function zodLib(): typeof Zod {
  return (zod ??= load('zod') as typeof Zod);
}
