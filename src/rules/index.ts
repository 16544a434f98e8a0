import { RuleSet } from './compile.js';
import {
  checkMerged, loadRuleFiles, mergeRules, RuleLoadError, DEFAULT_RULES_FILE, type LocatedRule,
} from './load.js';

export { RuleSet } from './compile.js';
export { RuleLoadError, formatProblem, type RuleProblem } from './load.js';

/**
 * The default rules plus user rule files, checked together. Throws a RuleLoadError naming every problem
 * (file, line, rule); a caller that reloads keeps its running rule set when this throws.
 */
export async function loadRuleSet(userFiles: readonly string[] = [], defaultsFile = DEFAULT_RULES_FILE): Promise<RuleSet> {
  const [defaults, ...user] = await loadRuleFiles([defaultsFile, ...userFiles]);
  const merged: LocatedRule[] = mergeRules(defaults!, ...user);
  const problems = checkMerged(merged);
  if (problems.length) throw new RuleLoadError(problems);
  return new RuleSet(merged);
}
