/**
 * The command line: a thin layer over the library (src/index.ts).
 *   stunnel-doctor scan [--json] [--rules FILE]... [--proxy NAME] [--stunnel-conf FILE] FILE...
 *   stunnel-doctor rules check FILE...
 *   stunnel-doctor watch [--config FILE] [--log NAME=PATH]... [--stunnel-conf NAME=PATH]... [--state-dir DIR] [--listen HOST:PORT] [--events-out FILE|-]
 * Exit codes: 0 no event of severity error or worse, 1 some, 2 a usage or input problem.
 */
import { Command, CommanderError, Option } from 'commander';
import { scanFiles, RuleLoadError, parseRuleFile, formatProblem, type DoctorEvent, severityAtLeast } from './index.js';
import { readFile } from 'node:fs/promises';
import { formatEvent, formatSummary } from './sinks/text.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

class InputError extends Error {}

async function runScan(files: string[], o: { json?: boolean; rules: string[]; proxy?: string; quiet?: boolean; color?: boolean; stunnelConf?: string }): Promise<number> {
  const color = o.color !== false && process.stdout.isTTY === true && !process.env.NO_COLOR;
  let failures = 0;
  const out: string[] = [];
  const flush = (): void => {
    if (out.length) {
      process.stdout.write(out.join(''));
      out.length = 0;
    }
  };
  const byKind = new Map<string, number>();
  let result;
  try {
    result = await scanFiles(files, {
      rules: o.rules,
      ...(o.proxy ? { proxy: o.proxy } : {}),
      ...(o.stunnelConf ? { stunnelConf: o.stunnelConf } : {}),
      collect: false,
      onEvent(e: DoctorEvent) {
        if (severityAtLeast(e.severity, 'error')) failures++;
        const k = `${e.kind}/${e.reason}`;
        byKind.set(k, (byKind.get(k) ?? 0) + 1);
        if (o.quiet) return;
        out.push(o.json ? `${JSON.stringify(e)}\n` : formatEvent(e, color));
        if (out.length >= 512) flush();
      },
    });
  } catch (e) {
    flush();
    if (e instanceof RuleLoadError) throw new InputError(`invalid rules:\n${e.message}`);
    const err = e as NodeJS.ErrnoException;
    if (err.code && err.path) throw new InputError(`cannot read ${err.path}: ${err.code}`);
    throw e;
  }
  flush();
  process.stderr.write(formatSummary(result.stats, byKind, process.stderr.isTTY === true && !process.env.NO_COLOR));
  return failures > 0 ? 1 : 0;
}

async function runRulesCheck(files: string[]): Promise<number> {
  let bad = 0;
  let count = 0;
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      process.stderr.write(`${file}:0:0: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      bad++;
      continue;
    }
    const r = parseRuleFile(text, file);
    for (const p of r.problems) process.stderr.write(`${formatProblem(p)}\n`);
    bad += r.problems.length;
    count += r.rules.length;
  }
  if (bad) {
    process.stderr.write(`${bad} problem${bad === 1 ? '' : 's'} found\n`);
    return 2;
  }
  process.stdout.write(`${files.length} file${files.length === 1 ? '' : 's'}, ${count} rules: ok\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command()
    .name('stunnel-doctor')
    .description('Reads stunnel logs and tells exactly why a TLS tunnel fails.')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('scan')
    .description('diagnose whole log files (- is stdin): events on stdout, a summary on stderr')
    .argument('<file...>', 'stunnel log files (output =, syslog, or stderr captures)')
    .option('--json', 'NDJSON events on stdout')
    .option('--rules <file>', 'extra rule file (repeatable); overrides default rules by id', collect, [])
    .option('--proxy <name>', 'proxy name for all files (default: from each file name)')
    .option('--stunnel-conf <path>', 'the stunnel.conf the logs were written with: config-aware hints and warnings')
    .option('-q, --quiet', 'print only the summary')
    .addOption(new Option('--no-color', 'no colours'))
    .action(async (files: string[], o) => {
      code = await runScan(files, o);
    });

  const rules = program.command('rules').description('rule files');
  rules
    .command('check')
    .description('validate rule files; every problem is reported with file and line')
    .argument('<file...>')
    .action(async (files: string[]) => {
      code = await runRulesCheck(files);
    });

  program
    .command('watch')
    .description('the sidecar: follow stunnel logs, serve /metrics, /events, /diagnose/<proxy>')
    .option('--config <file>', 'YAML configuration')
    .option('--log <name=path>', 'follow a proxy log (repeatable); path may be a glob', collect, [])
    .option('--stderr <name=path>', 'a proxy\'s stderr or journal capture (repeatable)', collect, [])
    .option('--stunnel-conf <name=path>', 'a proxy\'s stunnel.conf, for config-aware hints and warnings (repeatable)', collect, [])
    .option('--state-dir <dir>', 'where checkpoints are kept')
    .option('--listen <host:port>', 'HTTP listen address')
    .option('--events-out <file>', 'write events as NDJSON to FILE (- for stdout)')
    .option('--rules <file>', 'extra rule file (repeatable)', collect, [])
    .option('--demo', 'replay the bundled real stunnel fixtures (the default with no --config and no --log)')
    .action(async (o) => {
      const { runWatch } = await import('./watch.js');
      code = await runWatch(o);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof InputError) {
      process.stderr.write(`stunnel-doctor: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  return code;
}

