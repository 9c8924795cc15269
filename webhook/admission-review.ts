/**
 * Parsing and answering AdmissionReview admission.k8s.io/v1, independent of HTTP so it can be fuzzed
 * directly. Malformed reviews get a 4xx with a clear message; well-formed reviews of things the webhook
 * does not handle are allowed unchanged, with a warning when the request looks like a mistake.
 */
import { isRecord, type Pod } from './pod-types.js';

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

export class ReviewProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
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

/** Validates the envelope; throws ReviewProblem (a 4xx) when the API server could not have sent it. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isRecord(body)) throw new ReviewProblem(400, 'the body must be a JSON object (an AdmissionReview)');
  if (body.kind !== 'AdmissionReview') throw new ReviewProblem(400, `kind must be AdmissionReview, got ${JSON.stringify(body.kind ?? null).slice(0, 80)}`);
  if (body.apiVersion !== ADMISSION_API_VERSION) {
    throw new ReviewProblem(400, `apiVersion must be ${ADMISSION_API_VERSION} (register the webhook with admissionReviewVersions: [v1]), got ${JSON.stringify(body.apiVersion ?? null).slice(0, 80)}`);
  }
  const request = body.request;
  if (!isRecord(request)) throw new ReviewProblem(400, 'request is missing or not an object');
  const uid = str(request.uid);
  if (!uid || uid.length > 256) throw new ReviewProblem(400, 'request.uid is missing, empty, not a string or too long');
  if (exceedsDepth(request, MAX_OBJECT_DEPTH)) throw new ReviewProblem(400, `request nests deeper than ${MAX_OBJECT_DEPTH} levels`);
  const kind = isRecord(request.kind) ? request.kind : {};
  const resource = isRecord(request.resource) ? request.resource : undefined;
  if (request.dryRun !== undefined && typeof request.dryRun !== 'boolean') throw new ReviewProblem(400, 'request.dryRun must be a boolean');
  return {
    uid,
    kind: { group: str(kind.group) ?? '', version: str(kind.version) ?? '', kind: str(kind.kind) ?? '' },
    resource: resource && { group: str(resource.group) ?? '', version: str(resource.version) ?? '', resource: str(resource.resource) ?? '' },
    subResource: str(request.subResource),
    namespace: str(request.namespace),
    name: str(request.name),
    operation: str(request.operation) ?? '',
    dryRun: request.dryRun === true,
    object: request.object,
  };
}

export function isPodCreate(request: AdmissionRequest): boolean {
  return request.kind.group === '' && request.kind.version === 'v1' && request.kind.kind === 'Pod' && !request.subResource && request.operation === 'CREATE';
}

/** Why a Pod object cannot be injected safely, or undefined when its shape is sound. */
export function podShapeProblem(object: unknown): string | undefined {
  if (!isRecord(object)) return 'request.object is not an object';
  if (object.metadata !== undefined && !isRecord(object.metadata)) return 'metadata is not an object';
  const meta = (object.metadata ?? {}) as Record<string, unknown>;
  for (const field of ['labels', 'annotations'] as const) {
    const map = meta[field];
    if (map === undefined) continue;
    if (!isRecord(map) || Object.values(map).some((v) => typeof v !== 'string')) return `metadata.${field} must map strings to strings`;
  }
  if (!isRecord(object.spec)) return 'spec is missing or not an object';
  const spec = object.spec;
  for (const field of ['containers', 'initContainers', 'volumes', 'hostAliases'] as const) {
    const list = spec[field];
    if (list === undefined && field !== 'containers') continue;
    if (!Array.isArray(list)) return `spec.${field} must be a list`;
    if (list.some((item) => !isRecord(item))) return `spec.${field} must hold objects`;
  }
  for (const field of ['containers', 'initContainers'] as const) {
    for (const container of (spec[field] ?? []) as Record<string, unknown>[]) {
      if (typeof container.name !== 'string') return `spec.${field}[].name must be a string`;
      if (container.env !== undefined && (!Array.isArray(container.env) || container.env.some((e) => !isRecord(e) || typeof e.name !== 'string'))) {
        return `spec.${field}[${container.name}].env must be a list of {name, ...}`;
      }
    }
  }
  for (const volume of (spec.volumes ?? []) as Record<string, unknown>[]) {
    if (typeof volume.name !== 'string') return 'spec.volumes[].name must be a string';
    const projected = volume.projected;
    if (projected === undefined) continue;
    if (!isRecord(projected) || (projected.sources !== undefined && (!Array.isArray(projected.sources) || projected.sources.some((s) => !isRecord(s))))) {
      return `spec.volumes[${volume.name}].projected.sources must be a list of objects`;
    }
    for (const source of (projected.sources ?? []) as Record<string, unknown>[]) {
      if (source.configMap !== undefined && !isRecord(source.configMap)) return `spec.volumes[${volume.name}].projected configMap must be an object`;
    }
  }
  if (spec.hostNetwork !== undefined && typeof spec.hostNetwork !== 'boolean') return 'spec.hostNetwork must be a boolean';
  return undefined;
}

export function asPod(object: unknown): Pod {
  return object as Pod;
}

export function reviewResponse(response: AdmissionResponse): object {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
