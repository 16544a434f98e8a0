/**
 * The event contract: every sink (NDJSON, SSE, metrics, diagnose(), the status page) consumes exactly
 * these types and nothing else. Kinds and reasons are closed sets; `other` is always last.
 */

export const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Closed set of reasons per kind. The order is the documentation order; `other` is last. */
export const REASONS = {
  config_failed: [
    'invalid_option', 'missing_file', 'key_mismatch', 'bad_key', 'bad_cert', 'no_trusted_ca', 'bind_failed', 'other',
  ],
  config_warning: [
    'no_peer_verification', 'no_subject_check', 'insecure_permissions', 'log_level_too_low', 'stunnel_conf_unreadable',
    'other',
  ],
  connect_failed: ['refused', 'dns', 'no_route', 'timeout', 'not_found', 'other'],
  cert_verify_failed: [
    'expired', 'not_yet_valid', 'self_signed', 'unknown_issuer', 'hostname_mismatch', 'revoked',
    'crl_unavailable', 'no_peer_cert', 'pin_mismatch', 'wrong_purpose', 'weak_crypto', 'invalid_chain', 'ocsp_failed',
    'other',
  ],
  tls_handshake_failed: [
    'protocol_version', 'no_shared_cipher', 'peer_not_tls', 'peer_disconnected', 'client_cert_required',
    'timeout', 'peer_rejected_cert', 'psk_mismatch', 'unknown_server_name', 'protocol_negotiation', 'other',
  ],
  connection_rejected: ['too_many_clients', 'access_denied', 'other'],
  connection_closed: ['ok', 'idle_timeout', 'reset', 'other'],
  proxy_started: ['ok'],
  proxy_stopped: ['terminated', 'interrupted', 'internal_error', 'other'],
  config_reloaded: ['ok'],
} as const;

export type Kind = keyof typeof REASONS;
export const KINDS = Object.keys(REASONS) as Kind[];
export type ReasonOf<K extends Kind> = (typeof REASONS)[K][number];

/** Kinds that describe one stunnel connection (they carry the connection fields). */
export const CONNECTION_KINDS = [
  'connect_failed', 'cert_verify_failed', 'tls_handshake_failed', 'connection_closed',
] as const satisfies readonly Kind[];
/** Kinds that are failures (counted in stunnel_failures_total and returned by diagnose()). */
export const FAILURE_KINDS = [
  'config_failed', 'connect_failed', 'cert_verify_failed', 'tls_handshake_failed', 'connection_rejected',
] as const satisfies readonly Kind[];
export type FailureKind = (typeof FAILURE_KINDS)[number];

export function isKind(k: string): k is Kind {
  return Object.prototype.hasOwnProperty.call(REASONS, k);
}
export function isReasonOf<K extends Kind>(kind: K, reason: string): reason is ReasonOf<K> {
  return (REASONS[kind] as readonly string[]).includes(reason);
}
export function isFailureKind(k: Kind): k is FailureKind {
  return (FAILURE_KINDS as readonly string[]).includes(k);
}

/** Where the lines of an event were read: the file and the byte offset of the start of each line. */
export interface EventSource {
  file: string;
  offsets: number[];
}

interface EventBase<K extends Kind> {
  /** Stable: derived from proxy, file identity and the byte offset of the concluding line. */
  id: string;
  kind: K;
  reason: ReasonOf<K>;
  severity: Severity;
  proxy: string;
  /** From the connection's `Service [x] accepted` line, or the service a process-level line names; else null. */
  service: string | null;
  /** The stunnel connection id text (`12`, `0_1`, a 22-char unique id), null for process-level events. */
  connection: string | null;
  /** Log time as written by stunnel (local time, no zone): `YYYY-MM-DDTHH:MM:SS`; null for stderr lines. */
  time: string | null;
  /** The contributing messages (the text after `LOGn[id]: `), in order. */
  detail: string[];
  source: EventSource;
  /** Remediation for operators. */
  hint: string;
  /** The id of the rule that decided kind and reason. */
  rule: string;
}

/** Fields of the connection kinds, null where the log does not have them. */
export interface ConnectionFields {
  /** Client address from `accepted connection from` (network text: never a metric label). */
  peer: string | null;
  /** Destination from `s_connect: connect(ed|ing) <target>`. */
  target: string | null;
  /** From `Connection <status>: N byte(s) sent to TLS, M byte(s) sent to socket`. */
  bytesToTls: number | null;
  bytesToSocket: number | null;
  /** `closed`, `reset`, `closed/reset`, `reset/closed`, or null when the end line was not seen. */
  closeStatus: string | null;
  /** Log-time seconds from the first to the last line of the connection. */
  durationSeconds: number | null;
}

export interface CertificateFields {
  /** From `Rejected by CERT at depth=N: subject`. */
  depth: number | null;
  /** The rejected certificate's subject as logged (network text: never a metric label). */
  subject: string | null;
}

export interface ConfigFields {
  /** `start` for a failed start, `reload` for a failed SIGHUP reload. */
  phase: 'start' | 'reload';
  /** From `file:line: "option": reason`, when the log names them. */
  configFile: string | null;
  configLine: number | null;
}

export interface RunFields {
  /** From the banner `stunnel <version> on <platform> platform`. */
  version: string | null;
  openssl: string | null;
}

/**
 * Added by config-aware diagnosis (src/stunnel-conf) when the proxy's stunnel configuration is known;
 * absent otherwise.
 */
export interface StunnelConfFields {
  /** cert_verify_failed/hostname_mismatch: the names stunnel expected (`checkHost`, `checkIP`, `checkEmail` values). */
  expectedNames?: string[];
  /**
   * tls_handshake_failed/timeout and peer_disconnected (TIMEOUTbusy), connection_closed/idle_timeout and
   * reset (TIMEOUTidle): the configured timeout, in seconds, the connection's duration was compared with.
   */
  timeoutSeconds?: number;
}

/** config_warning events about the stunnel configuration itself name the file and line (null when the whole file). */
export interface ConfigWarningFields {
  configFile?: string | null;
  configLine?: number | null;
}

export type ConfigFailedEvent = EventBase<'config_failed'> & ConfigFields;
export type ConfigWarningEvent = EventBase<'config_warning'> & ConfigWarningFields;
export type ConnectFailedEvent = EventBase<'connect_failed'> & ConnectionFields;
export type CertVerifyFailedEvent = EventBase<'cert_verify_failed'> & ConnectionFields & CertificateFields & StunnelConfFields;
export type TlsHandshakeFailedEvent = EventBase<'tls_handshake_failed'> & ConnectionFields & StunnelConfFields;
export type ConnectionRejectedEvent = EventBase<'connection_rejected'> & { peer: string | null };
export type ConnectionClosedEvent = EventBase<'connection_closed'> & ConnectionFields & StunnelConfFields;
export type ProxyStartedEvent = EventBase<'proxy_started'> & RunFields;
export type ProxyStoppedEvent = EventBase<'proxy_stopped'>;
export type ConfigReloadedEvent = EventBase<'config_reloaded'>;

/** The discriminated union every sink consumes. */
export type DoctorEvent =
  | ConfigFailedEvent
  | ConfigWarningEvent
  | ConnectFailedEvent
  | CertVerifyFailedEvent
  | TlsHandshakeFailedEvent
  | ConnectionRejectedEvent
  | ConnectionClosedEvent
  | ProxyStartedEvent
  | ProxyStoppedEvent
  | ConfigReloadedEvent;

export type EventOfKind<K extends Kind> = Extract<DoctorEvent, { kind: K }>;

export function isFailure(e: DoctorEvent): boolean {
  return isFailureKind(e.kind);
}

const SEVERITY_RANK: Record<Severity, number> = { critical: 3, error: 2, warning: 1, info: 0 };
export function severityAtLeast(s: Severity, min: Severity): boolean {
  return SEVERITY_RANK[s] >= SEVERITY_RANK[min];
}
