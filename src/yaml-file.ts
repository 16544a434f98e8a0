/**
 * A configuration file's YAML, parsed with positions (the sidecar's `--config` and its `--web.config.file`).
 */
import type { Document } from 'yaml';
import { ConfigError } from './config.js';
import { yamlLib } from './deps.js';

/**
 * Parses `text` (read from `file`; duplicate keys are errors). Throws ConfigError naming file:line:col for every
 * syntax error; `at(offset)` names the place of a source offset the same way.
 */
export function parseYamlFile(text: string, file: string): { doc: Document; at: (offset: number | undefined) => string } {
  const { LineCounter, parseDocument } = yamlLib();
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  const at = (offset: number | undefined): string => {
    const p = lc.linePos(offset ?? 0);
    return `${file}:${p.line}:${p.col}`;
  };
  if (doc.errors.length) throw new ConfigError(doc.errors.map((e) => `${at(e.pos[0])}: YAML: ${e.message.split('\n')[0]}`));
  return { doc, at };
}
