/**
 * Typed errors with stable codes. Every code is listed in README.md's troubleshooting table
 * (a unit test checks this), so a user who sees one knows what to do.
 */
export const ErrorCodes = {
  BRIDGE_ERR_CONFIG: 'a configuration value is missing or invalid',
  BRIDGE_ERR_GO_MISSING: 'Go is needed to build the lab binaries and was not found',
  BRIDGE_ERR_LAB_BUILD_FAILED: 'building a lab control-plane binary failed',
  BRIDGE_ERR_LAB_PORT_IN_USE: 'a port the lab needs is already bound by another process',
  BRIDGE_ERR_LAB_START_FAILED: 'a lab process exited or did not become ready',
  BRIDGE_ERR_LAB_NOT_RUNNING: 'the lab is not running',
  BRIDGE_ERR_CERT: 'a certificate or key could not be read, parsed or generated',
  BRIDGE_ERR_CERT_EXPIRED: 'a certificate is expired or not yet valid',
  BRIDGE_ERR_KUBE_API: 'a call to a Kubernetes API server failed',
  BRIDGE_ERR_ADMISSION_REVIEW: 'an AdmissionReview request is malformed',
  BRIDGE_ERR_UPSTREAM_UNREACHABLE: 'the upstream (aggregator or API server) cannot be reached',
  BRIDGE_ERR_USAGE: 'the command line is wrong',
  BRIDGE_ERR_ROUTING: 'a routing table or rollout plan is invalid',
  BRIDGE_ERR_IDENTITY: 'a caller could not be authenticated or is not allowed what it asked for',
  BRIDGE_ERR_HANDOFF_TIMEOUT: 'a shard could not change owner in time because the other side was not caught up',
  BRIDGE_ERR_SYNC: 'an object could not be mirrored to the other cluster',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class BridgeError extends Error {
  readonly code: ErrorCode;
  /** What the user should do about it, in one sentence. */
  readonly fix: string | undefined;

  constructor(code: ErrorCode, message: string, options: { fix?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BridgeError';
    this.code = code;
    this.fix = options.fix;
  }

  /** One line for a terminal: code, cause and fix. */
  toLine(): string {
    return `${this.code}: ${this.message}${this.fix ? ` (fix: ${this.fix})` : ''}`;
  }
}

export function isBridgeError(err: unknown, code?: ErrorCode): err is BridgeError {
  return err instanceof BridgeError && (code === undefined || err.code === code);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
