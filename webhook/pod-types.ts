/**
 * The slice of the Pod API the webhook reads and writes, as plain JSON (what AdmissionReview carries).
 * Unknown fields pass through untouched because mutation works on a deep copy of the whole object.
 */
import type { OwnerReference } from '../lib/kube/types.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  managedFields?: unknown[];
  [key: string]: unknown;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  restartPolicy?: string;
  [key: string]: unknown;
}

export interface ProjectedSource {
  configMap?: { name?: string; items?: { key: string; path: string }[]; optional?: boolean };
  [key: string]: unknown;
}

export interface Volume {
  name: string;
  projected?: { sources?: ProjectedSource[]; defaultMode?: number };
  [key: string]: unknown;
}

export interface HostAlias {
  ip: string;
  hostnames?: string[];
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  hostNetwork?: boolean;
  hostAliases?: HostAlias[];
  nodeName?: string;
  [key: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: PodSpec;
  [key: string]: unknown;
}

export interface NamespaceInfo {
  name: string;
  /** Undefined when the webhook has not looked the namespace up; the API server's namespaceSelector then decided. */
  labels?: Record<string, string>;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
