/**
 * The sidecar's configuration file (`--config`, YAML): its schema, and the parser that refuses invalid configuration
 * with every problem named by file and line. Loaded only when a file is given: a sidecar started with flags alone
 * does not load the YAML parser and the schema library (~100 ms of start-up).
 */
import { readFile } from 'node:fs/promises';
import type { Node } from 'yaml';
import type * as Zod from 'zod';
import { yamlLib, zodLib } from './deps.js';
import { RESERVED_LABEL_NAMES } from './sinks/metrics.js';
import { CONFIG_DEFAULTS, ConfigError, PROXY_NAME, PROXY_NAME_RULE, proxyProblems } from './config.js';
import { parseYamlFile } from './yaml-file.js';

// This module is loaded only for a configuration file (watch imports it then).
const { z } = zodLib();
const { isMap, isScalar } = yamlLib();

const labelName = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'label names are lower_snake_case');

const proxySchema = z
  .object({
    name: z.string().regex(PROXY_NAME, PROXY_NAME_RULE).optional(),
    log: z.string().min(1).optional(),
    glob: z.string().min(1).optional(),
    stderr: z.string().min(1).optional(),
    labels: z.record(labelName, z.string().max(128)).optional(),
    /** The proxy's stunnel configuration file (config-aware diagnosis). */
    stunnelConfig: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const x of proxyProblems(p)) ctx.addIssue({ code: 'custom', ...(x.key ? { path: [x.key] } : {}), message: x.message });
  });

export const configSchema = z
  .object({
    listen: z
      .string()
      .regex(/^(?:\[[0-9a-fA-F:]+\]|[^\s:]+):\d{1,5}$/, 'listen is HOST:PORT')
      .refine((v) => !/:\d+$/.test(v) || Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'listen port is 0 to 65535')
      .default(CONFIG_DEFAULTS.listen),
    stateDir: z.string().min(1).optional(),
    rules: z.array(z.string().min(1)).default([]),
    eventsOut: z.string().min(1).optional(),
    labels: z.array(labelName).max(8).default([]),
    maxSeriesPerMetric: z.number().int().positive().default(CONFIG_DEFAULTS.maxSeriesPerMetric),
    proxyGraceSeconds: z.number().min(0).default(CONFIG_DEFAULTS.proxyGraceSeconds),
    pollMs: z.number().int().min(10).max(60_000).default(CONFIG_DEFAULTS.pollMs),
    maxLineBytes: z.number().int().min(256).max(16 * 1024 * 1024).default(CONFIG_DEFAULTS.maxLineBytes),
    maxOpenConnections: z.number().int().positive().default(CONFIG_DEFAULTS.maxOpenConnections),
    /** diagnose(): failures kept until a caller takes them, all proxies together (about 1 KiB each). */
    diagnoseMaxFailures: z.number().int().positive().default(CONFIG_DEFAULTS.diagnoseMaxFailures),
    /** diagnose(): failures kept per proxy until a caller takes them. */
    diagnoseMaxFailuresPerProxy: z.number().int().positive().default(CONFIG_DEFAULTS.diagnoseMaxFailuresPerProxy),
    webConfigFile: z.string().min(1).optional(),
    proxies: z.array(proxySchema).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const l of c.labels) {
      if (RESERVED_LABEL_NAMES.has(l) || l.startsWith("__")) ctx.addIssue({ code: 'custom', path: ['labels'], message: `label "${l}" is reserved` });
    }
    c.proxies.forEach((p, i) => {
      for (const k of Object.keys(p.labels ?? {})) {
        if (!c.labels.includes(k)) {
          ctx.addIssue({ code: 'custom', path: ['proxies', i, 'labels', k], message: `label "${k}" is not declared in the top-level "labels" list` });
        }
      }
    });
    const names = new Set<string>();
    c.proxies.forEach((p, i) => {
      if (p.name && names.has(p.name)) ctx.addIssue({ code: 'custom', path: ['proxies', i, 'name'], message: `duplicate proxy name "${p.name}"` });
      if (p.name) names.add(p.name);
    });
  });

export type DoctorConfig = Zod.infer<typeof configSchema>;
export type ProxyConfig = DoctorConfig['proxies'][number];

/** Parses configuration text; throws ConfigError naming file:line for every problem. */
export function parseConfig(text: string, file: string): DoctorConfig {
  const { doc, at: where } = parseYamlFile(text, file);
  const r = configSchema.safeParse(doc.toJS() ?? {});
  if (r.success) return r.data;
  throw new ConfigError(
    r.error.issues.map((i) => {
      let node: Node | undefined;
      if (i.code === 'unrecognized_keys') {
        // Point at the first unknown key itself, not at the mapping that holds it.
        const map = doc.getIn(i.path as (string | number)[], true);
        if (isMap(map)) node = map.items.find((p) => isScalar(p.key) && p.key.value === i.keys[0])?.key as Node | undefined;
      }
      for (let n = i.path.length; n >= 0 && !node; n--) {
        const got = doc.getIn(i.path.slice(0, n) as (string | number)[], true) as Node | undefined;
        if (got && typeof got === 'object' && 'range' in got) node = got;
      }
      const msg = i.code === 'unrecognized_keys' ? `unknown key ${i.keys.map((k) => `"${k}"`).join(', ')}` : i.message;
      return `${where(node?.range?.[0])}: ${i.path.length ? `${i.path.join('.')}: ` : ''}${msg}`;
    }),
  );
}

export async function loadConfig(file: string): Promise<DoctorConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  return parseConfig(text, file);
}
