/** Human-readable rendering of events (coloured on a terminal); the scan report is in report.ts. */
import type { DoctorEvent, Severity } from '../events.js';

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
