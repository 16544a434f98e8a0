/**
 * The command line: a thin layer over the library (src/index.ts).
 *   stunnel-doctor scan [--json] [--rules FILE]... [--proxy NAME] [--stunnel-conf FILE] [-q] [--failures] [--kind K,...]... [--metrics FILE] [--since T] [--until T] [-f] [FILE...]
 *   stunnel-doctor rules check FILE...
 *   stunnel-doctor watch [--config FILE] [--log NAME=PATH]... [--stunnel-conf [NAME=]PATH]... [--state-dir DIR] [--listen HOST:PORT] [--events-out FILE|-] [--web.config.file FILE]
 *   stunnel-doctor web-config check FILE...
 *   stunnel-doctor --version
 * Exit codes: 0 no event of severity error or worse, 1 some, 2 a usage or input problem.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { runScanCommand, ScanInputError, type ScanCommandOptions } from './scan-command.js';
import type { WatchFlags } from './watch.js';
import { VERSION } from './version.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

class InputError extends Error {}

async function runScan(files: string[], o: ScanCommandOptions): Promise<number> {
  if (files.length === 0) {
    if (!o.stunnelConf) throw new InputError('give the log files to scan, or --stunnel-conf FILE to scan the log it names (output =)');
    const { logOfStunnelConf, proxyNameOfConf } = await import('./stunnel-conf/log-path.js');
    const r = logOfStunnelConf(o.stunnelConf);
    if ('problem' in r) throw new InputError(r.problem);
    files = [r.log];
    o = { ...o, proxy: o.proxy ?? proxyNameOfConf(o.stunnelConf) };
  }
  try {
    return await runScanCommand(files, o);
  } catch (e) {
    if (e instanceof ScanInputError) throw new InputError(e.message);
    throw e;
  }
}

async function runRulesCheck(files: string[]): Promise<number> {
  // Loaded here: the YAML parser and the schema library are not needed by the other commands' start-up.
  const { parseRuleFile } = await import('./rules/parse-file.js');
  const { formatProblem } = await import('./rules/load.js');
  const { chooseEngine } = await import('./rules/engine.js');
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
    for (const rule of r.rules) {
      const c = chooseEngine(rule.match.message);
      if (c.engine === 'linear') {
        process.stdout.write(`${file}:${rule.line}: rule "${rule.id}": runs on the linear-time engine (${c.why})\n`);
      }
    }
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
    .version(VERSION, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('scan')
    .description('diagnose whole log files (- is stdin): events, then a report (on stderr with --json)')
    .argument('[file...]', 'stunnel log files (output =, syslog, or stderr captures); none: the output = file of --stunnel-conf')
    .option('--json', 'NDJSON events on stdout')
    .option('--rules <file>', 'extra rule file (repeatable); overrides default rules by id', collect, [])
    .option('--proxy <name>', 'proxy name for all files (default: from each file name)')
    .option('--stunnel-conf <path>', 'the stunnel.conf the logs were written with: config-aware hints and warnings')
    .option('-q, --quiet', 'print only the report')
    .option('--failures', 'print only failures (events of severity error or critical); the report still counts every event')
    .option('--kind <kinds>', 'print only events of these kinds (comma-separated, repeatable): cert_verify_failed, connect_failed, ...', collect, [])
    .option('--metrics <file>', 'write the sidecar\'s metrics for every line read (Prometheus text format) to FILE at the end')
    .option('--since <time>', 'only events at or after this log time: ISO 8601 (local time unless it has a zone) or a duration before now (30m, 2h, 1d)')
    .option('--until <time>', 'only events at or before this log time (same forms as --since)')
    .option('-f, --follow', 'after reading the files, keep reading what is appended (through rotation) until Ctrl-C, then report')
    .option('--progress', 'show the progress bar on a terminal from the start (default: after half a second)')
    .option('--no-progress', 'never show the progress bar')
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
    .option('--stunnel-conf <[name=]path>', 'a proxy\'s stunnel.conf, for config-aware hints and warnings (repeatable); without a --log of that name, the proxy follows its output = file (name: the file\'s, without .conf)', collect, [])
    .option('--state-dir <dir>', 'where checkpoints are kept')
    .option('--listen <host:port>', 'HTTP listen address')
    .option('--events-out <file>', 'write events as NDJSON to FILE (- for stdout)')
    .option('--rules <file>', 'extra rule file (repeatable)', collect, [])
    .option('--demo', 'replay the bundled real stunnel fixtures (the default with no --config and no --log)')
    .option('--web.config.file <file>', 'TLS, client certificates and basic auth for the endpoint (Prometheus exporter-toolkit format)')
    .action(async (o) => {
      const { runWatch } = await import('./watch.js');
      const { 'web.config.file': webConfigFile, ...rest } = o as Record<string, unknown>;
      code = await runWatch({ ...(rest as unknown as WatchFlags), ...(typeof webConfigFile === 'string' ? { webConfigFile } : {}) });
    });

  program
    .command('web-config')
    .description('the endpoint\'s web config file (--web.config.file)')
    .command('check')
    .description('validate web config files (and the certificate, key and CA files they name); problems with file and line')
    .argument('<file...>')
    .action(async (files: string[]) => {
      const { checkWebConfigFiles } = await import('./http/web-config.js');
      code = await checkWebConfigFiles(files, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
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

