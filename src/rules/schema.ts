/**
 * The rule file schema. A rule file is data: `rules:` is a list of rules, each naming the lines it matches
 * and what it does to the correlation state. Every stunnel message the tool understands is described in
 * rules/stunnel.yaml with this schema; users extend or override rules by `id`. The schemas are built at their first
 * use (ruleSchemas()): the schema library is loaded only when a rule file is parsed (deps.ts).
 */
import type * as Zod from 'zod';
import { zodLib } from '../deps.js';
import { KINDS, REASONS, SEVERITIES, type Kind } from '../events.js';

/**
 * What a rule does:
 *  - `start`: a connection begins (captures `service`, `peer`); on an open connection it only adds fields.
 *  - `end`: the connection ends (captures `status`, `to_tls`, `to_socket`); it concludes with one event: the
 *    connection's verdict if it has one, else this rule's `event`.
 *  - `detail` (default): the line is a detail of its connection, or of the process' configuration attempt;
 *    its `event` (if any) becomes the verdict. A process-level line with an `event` outside a configuration
 *    attempt is emitted at once.
 *  - `note`: updates fields and marks of the connection without adding a detail line.
 *  - `emit`: emits its `event` at once (process warnings, rejected connections).
 *  - `ignore`: a known line with no effect (counted as matched).
 *  - `run_start` (the banner), `run_info` (banner details), `config_begin`, `config_ok`, `config_fail`,
 *    `stop`: the life cycle of a stunnel process.
 */
export const ACTIONS = [
  'start', 'end', 'detail', 'note', 'emit', 'ignore',
  'run_start', 'run_info', 'config_begin', 'config_ok', 'config_fail', 'stop',
] as const;
export type Action = (typeof ACTIONS)[number];

/** Which lines a rule sees by the class of their `[id]`: connections, process threads (ui, main, cron) or stderr. */
export const SCOPES = ['connection', 'process', 'any'] as const;
export type Scope = (typeof SCOPES)[number];

/** Capture names with a meaning: they fill event fields. Other names are free for hints. */
export const FIELD_CAPTURES = [
  'service', 'peer', 'target', 'depth', 'subject', 'status', 'to_tls', 'to_socket', 'config_file', 'config_line',
  'version', 'platform', 'openssl',
] as const;

/** Fields every hint may use, whatever the rule captures. */
export const EVENT_FIELDS = ['proxy', 'service', 'connection', 'peer', 'target', 'subject', 'depth', 'config_file'] as const;

/** stunnel's level names (as its `debug =` option takes them), for 0 to 7. */
export const LEVEL_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
const LEVELS_ARE = `levels are 0 to 7 or their names: ${LEVEL_NAMES.map((n, i) => `${i} ${n}`).join(', ')}`;

/** The schemas of a rule file and its parts (built once, by ruleSchemas()). */
function build(z: typeof Zod.z) {
  const levelSchema = z.union(
    [
      z.number().int().min(0, LEVELS_ARE).max(7, LEVELS_ARE),
      z.enum(LEVEL_NAMES).transform((n) => LEVEL_NAMES.indexOf(n)),
    ],
    { error: LEVELS_ARE },
  );

  const matchSchema = z
    .object({
      level: z.union([levelSchema, z.array(levelSchema).min(1, 'give at least one level')], { error: LEVELS_ARE }).optional(),
      scope: z.enum(SCOPES).default('any'),
      format: z.array(z.enum(['file', 'syslog', 'stderr'])).min(1).optional(),
      message: z.string().min(1, 'the message pattern is empty'),
    })
    .strict();

  const kindSchema = z.enum(KINDS as [Kind, ...Kind[]]);

  const eventSchema = z
    .object({
      kind: kindSchema,
      reason: z.string(),
      /** A later verdict replaces an earlier one only with a strictly higher priority. */
      priority: z.number().int().min(-100).max(100).default(0),
    })
    .strict()
    .superRefine((e, ctx) => {
      const allowed = REASONS[e.kind] as readonly string[];
      if (!allowed.includes(e.reason)) {
        ctx.addIssue({
          code: 'custom',
          path: ['reason'],
          message: `reason "${e.reason}" is not one of ${e.kind}'s reasons: ${allowed.join(', ')}`,
        });
      }
    });

  const whenSchema = z
    .object({
      verdict: z.enum(['none', 'any']).optional(),
      has: z.array(z.string().min(1)).optional(),
      lacks: z.array(z.string().min(1)).optional(),
      bytes: z.enum(['zero', 'nonzero']).optional(),
      min_duration: z.number().min(0).optional(),
    })
    .strict();

  const ruleSchema = z
    .object({
      id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'ids are lower-case letters, digits, ".", "_" and "-"'),
      description: z.string().optional(),
      match: matchSchema,
      action: z.enum(ACTIONS).default('detail'),
      event: eventSchema.optional(),
      when: whenSchema.optional(),
      marks: z.array(z.string().min(1)).optional(),
      clears: z.array(kindSchema).optional(),
      severity: z.enum(SEVERITIES).optional(),
      hint: z.string().optional(),
    })
    .strict();

  const ruleFileSchema = z
    .object({
      version: z.literal(1).optional(),
      rules: z.array(ruleSchema),
    })
    .strict();

  return { ruleSchema, ruleFileSchema };
}

type Schemas = ReturnType<typeof build>;
let schemas: Schemas | null = null;

/** The rule file's schemas, built at the first call. */
export function ruleSchemas(): Schemas {
  return (schemas ??= build(zodLib().z));
}

export type RuleSpec = Zod.infer<Schemas['ruleSchema']>;
export type RuleFile = Zod.infer<Schemas['ruleFileSchema']>;
