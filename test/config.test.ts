/**
 * The sidecar's configuration file (user input, written here by hand): every mistake is reported with file,
 * line and column, all at once.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig } from '../src/config.js';
import { configSchema, parseConfig } from '../src/config-file.js';

const problems = (text: string): string[] => {
  try {
    parseConfig(text, 'doctor.yml');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
};

describe('configuration file', () => {
  it('accepts a proxy by file and one by glob, with defaults filled in', () => {
    const c = parseConfig('proxies:\n  - name: ldaps\n    log: /var/log/stunnel4/ldaps.log\n  - glob: /run/stunnel/*.log\n', 'doctor.yml');
    expect(c.listen).toBe('127.0.0.1:9577');
    expect(c.proxies).toHaveLength(2);
  });

  it('of an empty file is the flags-only default (built without the schema, which a flags-only start does not load)', () => {
    expect(defaultConfig()).toEqual(configSchema.parse({}));
    expect(defaultConfig()).toEqual(parseConfig('', 'doctor.yml'));
    // Fresh lists each time: a caller's changes do not leak into the next.
    const a = defaultConfig();
    a.rules.push('x.yaml');
    expect(defaultConfig().rules).toEqual([]);
  });

  it('lists every mistake with its line: a typo, a port out of range, a glob with stderr, bad YAML', () => {
    expect(problems('listen: 0.0.0.0:99999\nproxies:\n  - name: a\n    lgo: /tmp/a.log\n  - glob: /x/*.log\n    stderr: /x/a.err\n')).toEqual([
      'doctor.yml:1:9: listen: listen port is 0 to 65535',
      'doctor.yml:4:5: proxies.0: unknown key "lgo"',
      expect.stringMatching(/^doctor\.yml:3:5: proxies\.0: give "log" \(one file\), "glob" \(many\), or "stunnelConfig" alone/),
      expect.stringMatching(/^doctor\.yml:6:13: proxies\.1\.stderr: "stderr" goes with one "log"/),
    ]);
    expect(problems('proxies:\n  - name: a\n    log: [unclosed\n')[0]).toMatch(/^doctor\.yml:4:1: YAML: /);
    expect(problems('listen: localhost\n')).toEqual(['doctor.yml:1:9: listen: listen is HOST:PORT']);
  });
});
