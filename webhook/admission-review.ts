/**
 * Parsing and answering AdmissionReview admission.k8s.io/v1, independent of HTTP so it can be fuzzed
 * directly. Malformed reviews get a 4xx with a clear message; well-formed reviews of things the webhook
 * does not handle are allowed unchanged, with a warning when the request looks like a mistake.
 */
import { BridgeError } from '../lib/errors.js';
import { isRecord } from './pod-types.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
/** Deeper than any real Pod; bounds the recursion in structuredClone and the JSON diff. */
export const MAX_OBJECT_DEPTH = 64;

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  namespace?: string;
  name?: string;
  operation: string;
  dryRun: boolean;
  object: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

/** Iterative, so a hostile nesting depth cannot overflow the stack while measuring it. */
export function exceedsDepth(value: unknown, maxDepth: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= maxDepth) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Validates the envelope; throws BRIDGE_ERR_ADMISSION_REVIEW (a 400) when the API server could not have sent it. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  const request = envelopeRequest(body);
  const uid = str(request.uid);
  if (!uid || uid.length > 256) throw new BridgeError('BRIDGE_ERR_ADMISSION_REVIEW', 'request.uid is missing, empty, not a string or too long');
  if (exceedsDepth(request, MAX_OBJECT_DEPTH)) throw new BridgeError('BRIDGE_ERR_ADMISSION_REVIEW', `request nests deeper than ${MAX_OBJECT_DEPTH} levels`);
  if (request.dryRun !== undefined && typeof request.dryRun !== 'boolean')
    throw new BridgeError('BRIDGE_ERR_ADMISSION_REVIEW', 'request.dryRun must be a boolean');
  const kind = isRecord(request.kind) ? request.kind : {};
  const resource = isRecord(request.resource) ? request.resource : undefined;
  return {
    uid,
    kind: { group: text(kind.group), version: text(kind.version), kind: text(kind.kind) },
    resource: resource && { group: text(resource.group), version: text(resource.version), resource: text(resource.resource) },
    subResource: str(request.subResource),
    namespace: str(request.namespace),
    name: str(request.name),
    operation: text(request.operation),
    dryRun: request.dryRun === true,
    object: request.object,
  };
}

/** A string field, or '' when absent or not a string. */
function text(value: unknown): string {
  return str(value) ?? '';
}

/** The `request` of a v1 AdmissionReview body. */
function envelopeRequest(body: unknown): Record<string, unknown> {
  if (!isRecord(body)) throw new BridgeError('BRIDGE_ERR_ADMISSION_REVIEW', 'the body must be a JSON object (an AdmissionReview)');
  if (body.kind !== 'AdmissionReview')
    throw new BridgeError('BRIDGE_ERR_ADMISSION_REVIEW', `kind must be AdmissionReview, got ${JSON.stringify(body.kind ?? null).slice(0, 80)}`);
  if (body.apiVersion !== ADMISSION_API_VERSION) {
    const got = JSON.stringify(body.apiVersion ?? null).slice(0, 80);
    throw new BridgeError(
      'BRIDGE_ERR_ADMISSION_REVIEW',
      `apiVersion must be ${ADMISSION_API_VERSION} (register the webhook with admissionReviewVersions: [v1]), got ${got}`,
    );
  }
  if (!isRecord(body.request)) throw new BridgeError('BRIDGE_ERR_ADMISSION_REVIEW', 'request is missing or not an object');
  return body.request;
}

export function isPodCreate(request: AdmissionRequest): boolean {
  return request.kind.group === '' && request.kind.version === 'v1' && request.kind.kind === 'Pod' && !request.subResource && request.operation === 'CREATE';
}

/** Why a Pod object cannot be injected safely, or undefined when its shape is sound. */
export function podShapeProblem(object: unknown): string | undefined {
  if (!isRecord(object)) return 'request.object is not an object';
  if (object.metadata !== undefined && !isRecord(object.metadata)) return 'metadata is not an object';
  if (!isRecord(object.spec)) return metadataProblem(object.metadata) ?? 'spec is missing or not an object';
  const spec = object.spec;
  return (
    metadataProblem(object.metadata) ??
    listsProblem(spec) ??
    containersProblem(spec) ??
    volumesProblem(spec) ??
    (spec.hostNetwork !== undefined && typeof spec.hostNetwork !== 'boolean' ? 'spec.hostNetwork must be a boolean' : undefined)
  );
}

function metadataProblem(metadata: unknown): string | undefined {
  const meta = (metadata ?? {}) as Record<string, unknown>;
  for (const field of ['labels', 'annotations'] as const) {
    const map = meta[field];
    if (map === undefined) continue;
    if (!isRecord(map) || Object.values(map).some((v) => typeof v !== 'string')) return `metadata.${field} must map strings to strings`;
  }
  return undefined;
}

function listsProblem(spec: Record<string, unknown>): string | undefined {
  for (const field of ['containers', 'initContainers', 'volumes', 'hostAliases'] as const) {
    const list = spec[field];
    if (list === undefined && field !== 'containers') continue;
    if (!Array.isArray(list)) return `spec.${field} must be a list`;
    if (list.some((item) => !isRecord(item))) return `spec.${field} must hold objects`;
  }
  return undefined;
}

function containersProblem(spec: Record<string, unknown>): string | undefined {
  for (const field of ['containers', 'initContainers'] as const) {
    for (const container of (spec[field] ?? []) as Record<string, unknown>[]) {
      if (typeof container.name !== 'string') return `spec.${field}[].name must be a string`;
      const env = container.env;
      if (env !== undefined && (!Array.isArray(env) || env.some((e) => !isRecord(e) || typeof e.name !== 'string'))) {
        return `spec.${field}[${container.name}].env must be a list of {name, ...}`;
      }
    }
  }
  return undefined;
}

function volumesProblem(spec: Record<string, unknown>): string | undefined {
  for (const volume of (spec.volumes ?? []) as Record<string, unknown>[]) {
    if (typeof volume.name !== 'string') return 'spec.volumes[].name must be a string';
    const projected = volume.projected;
    if (projected === undefined) continue;
    const sources = isRecord(projected) ? projected.sources : undefined;
    if (!isRecord(projected) || (sources !== undefined && (!Array.isArray(sources) || sources.some((source) => !isRecord(source))))) {
      return `spec.volumes[${volume.name}].projected.sources must be a list of objects`;
    }
    for (const source of (sources ?? []) as Record<string, unknown>[]) {
      if (source.configMap !== undefined && !isRecord(source.configMap)) return `spec.volumes[${volume.name}].projected configMap must be an object`;
    }
  }
  return undefined;
}

export function reviewResponse(response: AdmissionResponse): object {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
