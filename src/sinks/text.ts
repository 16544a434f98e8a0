/** Human-readable rendering of events and scan summaries (coloured on a terminal). */
import type { DoctorEvent, Severity } from '../events.js';
import type { ScanStats } from '../scan.js';

const SGR: Record<Severity, string> = { critical: '1;31', error: '31', warning: '33', info: '2' };

function paint(on: boolean, code: string, s: string): string {
  return on ? `\x1b[${code}m${s}\x1b[0m` : s;
}

/** Network text (subjects, peers) may hold control characters: never let it drive the terminal. */
export function safeText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function formatEvent(e: DoctorEvent, color: boolean): string {
  const where = [e.proxy, e.service ? `[${e.service}]` : null, e.connection !== null ? `#${e.connection}` : null]
    .filter(Boolean)
    .join(' ');
  const head = `${e.time ?? '-'} ${paint(color, SGR[e.severity], `${e.severity.toUpperCase().padEnd(8)} ${e.kind}/${e.reason}`)} ${safeText(where)}`;
  const lines = [head];
  const extra: string[] = [];
  if ('peer' in e && e.peer) extra.push(`peer ${e.peer}`);
  if ('target' in e && e.target) extra.push(`target ${e.target}`);
  if ('subject' in e && e.subject) extra.push(`subject ${e.subject}${e.depth !== null ? ` (depth ${e.depth})` : ''}`);
  if ('phase' in e) extra.push(`phase ${e.phase}${e.configFile ? `, ${e.configFile}${e.configLine ? `:${e.configLine}` : ''}` : ''}`);
  if (extra.length) lines.push(`    ${safeText(extra.join(', '))}`);
  if (e.severity !== 'info') {
    for (const d of e.detail) lines.push(paint(color, '2', `    | ${safeText(d)}`));
    if (e.hint) lines.push(`    > ${safeText(e.hint)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatSummary(stats: ScanStats, byKind: Map<string, number>, color: boolean): string {
  const l = stats.lines;
  const total = l.matched + l.unmatched + l.invalid;
  const out = [
    `${stats.files} file${stats.files === 1 ? '' : 's'}, ${(stats.bytes / 1e6).toFixed(1)} MB, ${total} lines (${l.matched} matched, ${l.unmatched} unmatched, ${l.invalid} not stunnel lines${l.cut ? `, ${l.cut} cut` : ''}${l.invalidUtf8 ? `, ${l.invalidUtf8} invalid UTF-8` : ''})`,
  ];
  const kinds = [...byKind.entries()].sort((a, b) => b[1] - a[1]);
  for (const [k, n] of kinds) out.push(`  ${String(n).padStart(8)}  ${paint(color, k.startsWith('connection_closed') || k.startsWith('proxy_') || k.startsWith('config_reloaded') ? '2' : '33', k)}`);
  if (!kinds.length) out.push('  no events');
  return `${out.join('\n')}\n`;
}
