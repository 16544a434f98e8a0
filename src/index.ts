/**
 * stunnel-doctor's public library API.
 */
export * from './events.js';
export { scanFiles, scanFiles as scan, proxyNameFromPath, type ScanOptions, type ScanResult, type ScanStats } from './scan.js';
export { loadRuleSet, RuleSet, RuleLoadError, formatProblem, type RuleProblem } from './rules/index.js';
export { parseRuleFile } from './rules/parse-file.js';
export { Pipeline, type LineCounts } from './pipeline.js';
export type { Chunk } from './tail/chunk.js';
export { createDoctor, Doctor, ReloadError, type DoctorOptions, type ProxyStatus } from './doctor.js';
export { ConfigFailedError, StartTimeoutError, type Diagnosis } from './sinks/diagnose.js';
export { ConfigError, type ProxyConfig } from './config.js';
