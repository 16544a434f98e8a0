/**
 * The log a stunnel configuration writes: its global `output =` option. Lets an operator point the sidecar or
 * `scan` at /etc/stunnel/NAME.conf alone. stunnel without `output` logs to syslog only, and a relative `output`
 * is relative to stunnel's working directory, which the configuration does not tell: both are refused with a
 * message saying to give the log file instead.
 */
import { basename, isAbsolute } from 'node:path';
import { readStunnelConf, type ConfFs } from './parse.js';
import { settingsOf, where } from './settings.js';

export type LogOfConf = { log: string } | { problem: string };

export function logOfStunnelConf(path: string, fs?: ConfFs): LogOfConf {
  const conf = readStunnelConf(path, fs);
  const unreadable = conf.problems.find((p) => p.line === null && p.file === path);
  if (unreadable) return { problem: `${path}: ${unreadable.message}` };
  const output = settingsOf(conf).global.output;
  if (!output) {
    return { problem: `${path} has no "output =": this stunnel logs to syslog only; give the file syslog writes it to` };
  }
  if (!isAbsolute(output.value)) {
    return { problem: `${path}: output = ${output.value} (${where(output)}) is relative to stunnel's working directory; give the log file` };
  }
  return { log: output.value };
}

/** A proxy name from a configuration's file name: `/etc/stunnel/ldaps.conf` → `ldaps`. */
export function proxyNameOfConf(path: string): string {
  const n = basename(path).replace(/\.(?:conf|cnf|cfg)$/i, '').replace(/[^A-Za-z0-9_.-]/g, '_');
  return n === '' ? 'stunnel' : n;
}
