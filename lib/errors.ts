/**
 * Typed errors with stable codes. Each code carries what it means and the default fix, so call sites
 * add only what they know better (a file name, a flag); README.md's troubleshooting table is checked
 * against this list by a unit test.
 */
export const ErrorCodes = {
  BRIDGE_ERR_CONFIG: {
    meaning: 'a configuration value is missing or invalid',
    fix: 'the message names the field; fix it and restart',
  },
  BRIDGE_ERR_GO_MISSING: {
    meaning: 'Go is needed to build the lab binaries and was not found',
    fix: 'install Go 1.26+ and put `go` on PATH',
  },
  BRIDGE_ERR_LAB_BUILD_FAILED: {
    meaning: 'building a lab control-plane binary failed',
    fix: 'read `~/.cache/cluster-bridge/build.log`; check the version exists and the Go module proxy is reachable',
  },
  BRIDGE_ERR_LAB_PORT_IN_USE: {
    meaning: 'a port the lab needs is already bound by another process',
    fix: 'stop the other process or pick another port (or none: free ports are chosen)',
  },
  BRIDGE_ERR_LAB_START_FAILED: {
    meaning: 'a lab process exited or did not become ready',
    fix: 'read the log named in the message under `.lab/<cluster>/logs/`',
  },
  BRIDGE_ERR_LAB_STOP_FAILED: {
    meaning: 'a lab process was stopped but its port is still bound',
    fix: 'find the process with `ss -ltnp` and stop it, then run `bridgectl lab down` again',
  },
  BRIDGE_ERR_LAB_NOT_RUNNING: {
    meaning: 'the lab is not running',
    fix: 'run `bridgectl lab up`',
  },
  BRIDGE_ERR_WOULD_REPLACE: {
    meaning: 'the command would replace or stop something that is running',
    fix: 'pass `--replace` to allow it, or stop it first with the command the message names',
  },
  BRIDGE_ERR_CERT: {
    meaning: 'a certificate or key could not be read, parsed or generated',
    fix: 'check the file or Secret named; regenerate with `bridgectl certs`',
  },
  BRIDGE_ERR_CERT_EXPIRED: {
    meaning: 'a certificate is expired or not yet valid',
    fix: 'renew it (`bridgectl certs`) or check the clock',
  },
  BRIDGE_ERR_KUBE_API: {
    meaning: 'a call to a Kubernetes API server failed',
    fix: 'the message has the HTTP status and reason; check RBAC and connectivity',
  },
  BRIDGE_ERR_ADMISSION_REVIEW: {
    meaning: 'an AdmissionReview request is malformed',
    fix: 'the API server or caller sent a bad review; see the message',
  },
  BRIDGE_ERR_UPSTREAM_UNREACHABLE: {
    meaning: 'an upstream (aggregator, synchronizer or API server) cannot be reached',
    fix: 'check the address in the message and the network; the sidecar falls back per `BRIDGE_FAIL_MODE`',
  },
  BRIDGE_ERR_USAGE: {
    meaning: 'the command line is wrong',
    fix: 'run `bridgectl --help`',
  },
  BRIDGE_ERR_ROUTING: {
    meaning: 'a routing table or rollout plan is invalid',
    fix: 'the message names the field; fix the plan',
  },
  BRIDGE_ERR_ROUTING_TABLE: {
    meaning: 'the sidecar cannot fetch the routing table from the aggregator (local routing is paused: everything goes to the aggregator)',
    fix: "check that BRIDGE_UPSTREAM is the aggregator and that it accepts the sidecar's client certificate, or set BRIDGE_LOCAL_ROUTING=off",
  },
  BRIDGE_ERR_IDENTITY: {
    meaning: 'a caller could not be authenticated or is not allowed what it asked for',
    fix: "check the token, the client certificate's namespace, or the RBAC named in the message",
  },
  BRIDGE_ERR_HANDOFF_TIMEOUT: {
    meaning: 'a shard could not change owner in time because the other side was not caught up',
    fix: "check the synchronizer's log and catch-up API; the hand-off is retried",
  },
  BRIDGE_ERR_FENCE_UNENFORCEABLE: {
    meaning:
      'the source API server cannot enforce the fence (Kubernetes < 1.30, or no admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy), so no shard may move to the destination',
    fix: 'upgrade the source to Kubernetes 1.30 or later (or enable the ValidatingAdmissionPolicy API); `bridgectl status` shows the reason',
  },
  BRIDGE_ERR_ROLLOUT: {
    meaning: 'the rollout controller refused a command, did not acknowledge it, or there is no rollout',
    fix: 'read `bridgectl status`; check that an aggregator runs and leads',
  },
  BRIDGE_ERR_REQUEST_BODY: {
    meaning: 'a request body for a shard with a resourceVersion offset could not be decoded, so its resourceVersions cannot be mapped',
    fix: 'the client got 400 (or 415 for a format the bridge does not rewrite, such as CBOR); send the body as JSON, YAML or protobuf',
  },
  BRIDGE_ERR_SYNC: {
    meaning: 'an object could not be mirrored to the other cluster',
    fix: "the message has the API server's reason; fix the object or the destination",
  },
} as const satisfies Record<string, { meaning: string; fix: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

export class BridgeError extends Error {
  readonly code: ErrorCode;
  /** What the user should do about it, in one sentence: the call site's, else the code's default. */
  readonly fix: string;

  constructor(code: ErrorCode, message: string, options: { fix?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BridgeError';
    this.code = code;
    this.fix = options.fix ?? ErrorCodes[code].fix;
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
