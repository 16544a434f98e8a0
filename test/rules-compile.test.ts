import { describe, expect, it } from 'vitest';
import { literalPrefix } from '../src/rules/compile.js';

describe('literal prefixes used to skip rules', () => {
  it('takes the literal head of an anchored pattern', () => {
    expect(literalPrefix('^Service \\[(?<service>.*)\\] accepted')).toBe('Service [');
    expect(literalPrefix('^s_connect: connect (?<target>.+)')).toBe('s_connect: connect ');
    expect(literalPrefix('^CERT: Pre-verification error: x')).toBe('CERT: Pre-verification error: x');
  });
  it('drops a character made optional by a quantifier', () => {
    expect(literalPrefix('^abc?d')).toBe('ab');
    expect(literalPrefix('^ab*')).toBe('a');
  });
  it('has none for unanchored patterns or top-level alternatives', () => {
    expect(literalPrefix('Connection refused')).toBe('');
    expect(literalPrefix('^s_connect: connect x|^s_connect: s_poll_wait y')).toBe('');
    expect(literalPrefix('^(?:a|b)c')).toBe('');
    expect(literalPrefix('^x[|]y')).toBe('x');
  });
});
