/**
 * One admission, from raw bytes to the answer: parse, decide, mutate a copy, diff into a JSON Patch.
 * No express and no network here: admission-server.ts adds HTTP, metrics, logs and Events.
 * Whatever goes wrong with a well-formed review, the pod is allowed (fail open) with a warning.
 */
import fastJsonPatch from 'fast-json-patch';
import { BridgeError, errorMessage, isBridgeError, type BridgeErrorOptions } from '../lib/errors.js';
import { InjectReasons, shouldInject, type InjectReason } from './decision.js';
import type { InjectionConfig, InjectionMode } from './injection-config.js';
import { injectPod } from './mutation.js';
import type { OwnerReference } from '../lib/kube/types.js';
import type { Pod } from './pod-types.js';
import { isPodCreate, parseAdmissionReview, podShapeProblem, reviewResponse, type AdmissionRequest, type AdmissionResponse } from './admission-review.js';

export type OutcomeReason = InjectReason | 'already-injected' | 'not-pod-create' | 'invalid-pod' | 'error' | 'bad-request';

export interface AdmissionOutcome {
  reason: OutcomeReason;
  mode?: InjectionMode;
  uid?: string;
  namespace?: string;
  /** The pod's name, or its generateName prefix when the API server has not chosen one yet. */
  name?: string;
  dryRun: boolean;
  patchOperations: number;
  owner?: OwnerReference;
  message?: string;
}

export interface HandlerResult {
  status: number;
  body: object;
  outcome: AdmissionOutcome;
}

export interface HandlerDeps {
  config: InjectionConfig;
  /** Labels of a namespace when the webhook watches namespaces; undefined leaves it to the namespaceSelector. */
  namespaceLabels?: (namespace: string) => Record<string, string> | undefined;
  /** Whether the namespace holds what a pod injected in this mode mounts (when the webhook manages it). */
  namespaceReady?: (namespace: string, mode: InjectionMode) => boolean;
}

function allowed(uid: string, extra: Partial<AdmissionResponse> = {}): object {
  return reviewResponse({ uid, allowed: true, ...extra });
}

/** The JSON body of a refused review (the webhook's own answers, not an AdmissionReview): the code and the message. */
export function reviewErrorBody(err: BridgeError): { code: string; message: string } {
  return { code: err.code, message: err.message };
}

function badRequest(err: BridgeError): HandlerResult {
  return {
    status: err.status,
    body: reviewErrorBody(err),
    outcome: { reason: 'bad-request', dryRun: false, patchOperations: 0, message: err.message },
  };
}

function malformedReview(message: string, options?: BridgeErrorOptions): BridgeError {
  return new BridgeError('BRIDGE_ERR_ADMISSION_REVIEW', message, options);
}

export function isJsonContentType(contentType: string | undefined): boolean {
  return /^application\/json\s*(;|$)/i.test(contentType ?? '');
}

/** The review's request, or the 4xx answer for a body the API server could not have sent. */
function readReview(raw: Buffer | string, contentType: string | undefined): AdmissionRequest | HandlerResult {
  if (!isJsonContentType(contentType)) {
    const got = String(contentType ?? '').slice(0, 80);
    return badRequest(malformedReview(`Content-Type must be application/json, got "${got}"`, { status: 415, statusReason: 'UnsupportedMediaType' }));
  }
  let body: unknown;
  try {
    body = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    return badRequest(malformedReview(`the body is not valid JSON: ${errorMessage(err).slice(0, 200)}`));
  }
  try {
    return parseAdmissionReview(body);
  } catch (err) {
    if (isBridgeError(err, 'BRIDGE_ERR_ADMISSION_REVIEW')) return badRequest(err);
    throw err;
  }
}

export function handleAdmission(raw: Buffer | string, contentType: string | undefined, deps: HandlerDeps): HandlerResult {
  const request = readReview(raw, contentType);
  if ('status' in request) return request;
  const { uid, dryRun } = request;
  const base = { uid, namespace: request.namespace, dryRun, patchOperations: 0 };

  if (!isPodCreate(request)) {
    const what = `${request.operation || '?'} ${request.kind.kind || '?'}${request.subResource ? `/${request.subResource}` : ''}`;
    return {
      status: 200,
      body: allowed(uid, { warnings: [`cluster-bridge webhook only mutates Pod CREATE; ${what} allowed unchanged`] }),
      outcome: { ...base, reason: 'not-pod-create', message: what },
    };
  }
  const shape = podShapeProblem(request.object);
  if (shape) {
    return {
      status: 200,
      body: allowed(uid, { warnings: [`cluster-bridge did not inject: ${shape}`] }),
      outcome: { ...base, reason: 'invalid-pod', message: shape },
    };
  }
  const pod = request.object as Pod; // podShapeProblem checked every field injection reads
  const meta = pod.metadata ?? {};
  const namespace = request.namespace || meta.namespace || '';
  const owner = Array.isArray(meta.ownerReferences) ? meta.ownerReferences.find((o) => o?.controller === true) : undefined;
  const outcomeBase = { ...base, namespace, name: meta.name || request.name || meta.generateName, owner };
  try {
    const decision = shouldInject(pod, { name: namespace, labels: deps.namespaceLabels?.(namespace) }, deps.config);
    if (!decision.inject) {
      return { status: 200, body: allowed(uid), outcome: { ...outcomeBase, reason: decision.reason, mode: decision.mode } };
    }
    const mutated = injectPod(pod, decision.mode, deps.config);
    const patch = fastJsonPatch.compare(pod, mutated);
    if (patch.length === 0) {
      return { status: 200, body: allowed(uid), outcome: { ...outcomeBase, reason: 'already-injected', mode: decision.mode } };
    }
    // Injected even where the namespace's CA bundle or TLS Secret is not there yet (labelled a moment
    // ago): the kubelet retries the mounts until they exist, while a pod left uninjected would bypass
    // the bridge for its whole life (issue 22). The reason and a warning say why it may wait.
    const pending = deps.namespaceReady !== undefined && !deps.namespaceReady(namespace, decision.mode);
    const reason = pending ? 'injected-namespace-pending' : decision.reason;
    const warnings = pending ? { warnings: [`cluster-bridge: ${InjectReasons[reason]}`] } : {};
    return {
      status: 200,
      body: allowed(uid, { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64'), ...warnings }),
      outcome: { ...outcomeBase, reason, mode: decision.mode, patchOperations: patch.length },
    };
  } catch (err) {
    // Fail open: a bug here must never stop pods from being created.
    const message = errorMessage(err).slice(0, 300);
    return {
      status: 200,
      body: allowed(uid, { warnings: [`cluster-bridge injection failed, pod admitted without the bridge: ${message}`] }),
      outcome: { ...outcomeBase, reason: 'error', message },
    };
  }
}
