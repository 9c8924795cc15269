/**
 * Typed errors with stable codes. Each code carries what it means, the default fix, and the HTTP status
 * (with the Kubernetes Status reason) a client is answered with when the error ends its request, so
 * call sites add only what they know better (a file name, a flag, a narrower status) and no server
 * maps codes to statuses by hand. README.md's troubleshooting table is checked against this list by a
 * unit test.
 */
import type { StatusDetails, StatusReason } from './kube/status.js';

/**
 * One code. `status` and `statusReason` are what a server of the bridge answers with (a Kubernetes Status
 * for the aggregator, a JSON body for the webhook); codes no request meets (the lab, the command line)
 * carry the status a server would give them.
 */
interface ErrorCodeSpec {
  status: number;
  statusReason: StatusReason;
  meaning: string;
  fix: string;
}

export const ErrorCodes = {
  BRIDGE_ERR_CONFIG: {
    status: 500,
    statusReason: 'InternalError',
    meaning: 'a configuration value is missing or invalid',
    fix: 'the message names the field; fix it and restart',
  },
  BRIDGE_ERR_GO_MISSING: {
    status: 500,
    statusReason: 'InternalError',
    meaning: 'Go is needed to build the lab binaries and was not found',
    fix: 'install Go 1.26+ and put `go` on PATH',
  },
  BRIDGE_ERR_LAB_BUILD_FAILED: {
    status: 500,
    statusReason: 'InternalError',
    meaning: 'building a lab control-plane binary failed',
    fix: 'read `~/.cache/cluster-bridge/build.log`; check the version exists and the Go module proxy is reachable',
  },
  BRIDGE_ERR_LAB_PORT_IN_USE: {
    status: 500,
    statusReason: 'InternalError',
    meaning: 'a port the lab needs is already bound by another process',
    fix: 'stop the other process or pick another port (or none: free ports are chosen)',
  },
  BRIDGE_ERR_LAB_START_FAILED: {
    status: 500,
    statusReason: 'InternalError',
    meaning: 'a lab process exited or did not become ready',
    fix: 'read the log named in the message under `.lab/<cluster>/logs/`',
  },
  BRIDGE_ERR_LAB_STOP_FAILED: {
    status: 500,
    statusReason: 'InternalError',
    meaning: 'a lab process was stopped but its port is still bound',
    fix: 'find the process with `ss -ltnp` and stop it, then run `bridgectl lab down` again',
  },
  BRIDGE_ERR_LAB_NOT_RUNNING: {
    status: 503,
    statusReason: 'ServiceUnavailable',
    meaning: 'the lab is not running',
    fix: 'run `bridgectl lab up`',
  },
  BRIDGE_ERR_WOULD_REPLACE: {
    status: 409,
    statusReason: 'Conflict',
    meaning: 'the command would replace or stop something that is running',
    fix: 'pass `--replace` to allow it, or stop it first with the command the message names',
  },
  BRIDGE_ERR_CERT: {
    status: 500,
    statusReason: 'InternalError',
    meaning: 'a certificate or key could not be read, parsed or generated',
    fix: 'check the file or Secret named; regenerate with `bridgectl certs`',
  },
  BRIDGE_ERR_CERT_EXPIRED: {
    status: 500,
    statusReason: 'InternalError',
    meaning: 'a certificate is expired or not yet valid',
    fix: 'renew it (`bridgectl certs`) or check the clock',
  },
  BRIDGE_ERR_KUBE_API: {
    status: 502,
    statusReason: 'InternalError',
    meaning: 'a call to a Kubernetes API server failed',
    fix: 'the message has the HTTP status and reason; check RBAC and connectivity',
  },
  BRIDGE_ERR_ADMISSION_REVIEW: {
    status: 400,
    statusReason: 'BadRequest',
    meaning: 'an AdmissionReview request is malformed',
    fix: 'the API server or caller sent a bad review; see the message',
  },
  BRIDGE_ERR_UPSTREAM_UNREACHABLE: {
    status: 503,
    statusReason: 'ServiceUnavailable',
    meaning: 'an upstream (aggregator, synchronizer or API server) cannot be reached',
    fix: 'check the address in the message and the network; the sidecar falls back per `BRIDGE_FAIL_MODE`',
  },
  BRIDGE_ERR_USAGE: {
    status: 400,
    statusReason: 'BadRequest',
    meaning: 'the command line is wrong',
    fix: 'run `bridgectl --help`',
  },
  BRIDGE_ERR_ROUTING: {
    status: 400,
    statusReason: 'BadRequest',
    meaning: 'a routing table or rollout plan is invalid',
    fix: 'the message names the field; fix the plan',
  },
  BRIDGE_ERR_ROUTING_TABLE: {
    status: 503,
    statusReason: 'ServiceUnavailable',
    meaning: 'the sidecar cannot fetch the routing table from the aggregator (local routing is paused: everything goes to the aggregator)',
    fix: "check that BRIDGE_UPSTREAM is the aggregator and that it accepts the sidecar's client certificate, or set BRIDGE_LOCAL_ROUTING=off",
  },
  BRIDGE_ERR_IDENTITY: {
    status: 403,
    statusReason: 'Forbidden',
    meaning: 'a caller is not allowed what it asked for (identity headers without a sidecar client certificate, an impersonation the source denies)',
    fix: "check the client certificate's namespace, or the RBAC named in the message",
  },
  BRIDGE_ERR_UNAUTHENTICATED: {
    status: 401,
    statusReason: 'Unauthorized',
    meaning: "the source API server does not accept the caller's credentials (its TokenReview), so the aggregator cannot act for it on the destination",
    fix: "check the caller's token against the source (`kubectl auth whoami`); a ServiceAccount token must come from the source",
  },
  BRIDGE_ERR_THROTTLED: {
    status: 429,
    statusReason: 'TooManyRequests',
    meaning: 'a client address sent more requests with unknown credentials than the review budget allows (each costs the source a TokenReview)',
    fix: 'the client retries after a second; raise BRIDGE_UNKNOWN_TOKEN_REVIEWS_PER_SECOND if real callers hit it',
  },
  BRIDGE_ERR_SHARD_HELD: {
    status: 503,
    statusReason: 'ServiceUnavailable',
    meaning: "a shard's writes are held: it is changing owner, or this aggregator replica cannot confirm its routing table",
    fix: 'clients retry after the Retry-After second; a hold that lasts shows in `bridgectl status` and the aggregator log',
  },
  BRIDGE_ERR_MERGED_READ: {
    status: 503,
    statusReason: 'ServiceUnavailable',
    meaning:
      'a cluster-wide read merged from both clusters could not be answered consistently: namespaces kept changing owner while it read, or no merged resourceVersion epoch could be persisted',
    fix: 'clients retry after the Retry-After second; if it lasts, check the routing table ConfigMap is writable by the aggregator (docs/adr/0027)',
  },
  BRIDGE_ERR_ROUTING_LOOP: {
    status: 508,
    statusReason: 'InternalError',
    meaning: 'a request reached the aggregator a second time (the aggregator forwarded it to itself, or to a sidecar that sent it back)',
    fix: "point the aggregator's source and destination at API servers, not at the aggregator or a sidecar",
  },
  BRIDGE_ERR_HANDOFF_TIMEOUT: {
    status: 503,
    statusReason: 'ServiceUnavailable',
    meaning: 'a shard could not change owner in time because the other side was not caught up',
    fix: "check the synchronizer's log and catch-up API; the hand-off is retried",
  },
  BRIDGE_ERR_FENCE_UNENFORCEABLE: {
    status: 409,
    statusReason: 'Conflict',
    meaning:
      'the source API server cannot enforce the fence (Kubernetes < 1.30, or no admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy), so no shard may move to the destination',
    fix: 'upgrade the source to Kubernetes 1.30 or later (or enable the ValidatingAdmissionPolicy API); `bridgectl status` shows the reason',
  },
  BRIDGE_ERR_ROLLOUT: {
    status: 409,
    statusReason: 'Conflict',
    meaning: 'the rollout controller refused a command, did not acknowledge it, or there is no rollout',
    fix: 'read `bridgectl status`; check that an aggregator runs and leads',
  },
  BRIDGE_ERR_REQUEST_BODY: {
    status: 400,
    statusReason: 'BadRequest',
    meaning: 'a request body for a shard with a resourceVersion offset could not be decoded, so its resourceVersions cannot be mapped',
    fix: 'the client got 400 (or 415 for a format the bridge does not rewrite, such as CBOR); send the body as JSON, YAML or protobuf',
  },
  BRIDGE_ERR_SYNC: {
    status: 502,
    statusReason: 'InternalError',
    meaning: 'an object could not be mirrored to the other cluster',
    fix: "the message has the API server's reason; fix the object or the destination",
  },
} as const satisfies Record<string, ErrorCodeSpec>;

export type ErrorCode = keyof typeof ErrorCodes;

export interface BridgeErrorOptions {
  fix?: string;
  cause?: unknown;
  /** A narrower status of the same meaning than the code's (415 for a body format, 404 for a path); its reason with it. */
  status?: number;
  statusReason?: StatusReason;
  /** Seconds a client should wait before it retries (Retry-After), when retrying can help. */
  retryAfterSeconds?: number;
  /** What the Status answer names (the object, the causes), as kube-apiserver fills it. */
  details?: StatusDetails;
  /** BRIDGE_ERR_KUBE_API: the status the API server answered, for callers that branch on it (a 409 lost race). */
  apiStatus?: number;
}

export class BridgeError extends Error {
  readonly code: ErrorCode;
  /** What the user should do about it, in one sentence: the call site's, else the code's default. */
  readonly fix: string;
  /** The HTTP status a client gets when this error ends its request: the call site's, else the code's. */
  readonly status: number;
  readonly statusReason: StatusReason;
  readonly retryAfterSeconds?: number;
  readonly details?: StatusDetails;
  readonly apiStatus?: number;

  constructor(code: ErrorCode, message: string, options: BridgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BridgeError';
    this.code = code;
    this.fix = options.fix ?? ErrorCodes[code].fix;
    this.status = options.status ?? ErrorCodes[code].status;
    this.statusReason = options.statusReason ?? ErrorCodes[code].statusReason;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
    if (options.details !== undefined) this.details = options.details;
    if (options.apiStatus !== undefined) this.apiStatus = options.apiStatus;
  }

  /** One line for a terminal: code, cause and fix. */
  toLine(): string {
    return `${this.code}: ${this.message} (fix: ${this.fix})`;
  }
}

export function isBridgeError(err: unknown, code?: ErrorCode): err is BridgeError {
  return err instanceof BridgeError && (code === undefined || err.code === code);
}

/** The message of anything thrown; duck-typed, because errors from another realm (a VM context) fail instanceof. */
export function errorMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message;
  return String(err);
}
