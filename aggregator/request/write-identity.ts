/**
 * The aggregator's identity step for a write (issue 20 item 4, issue 21): the pure decisions of
 * lib/routing/request-identity.ts, with the one read they need, the stored target object, made as the
 * caller (as the write itself will be). Refuses a write that sets, changes or removes the bridge's own
 * annotations (422, as kube-apiserver words a validation error); for a moved shard, maps the UIDs the
 * client presents (of the target and of the owners its ownerReferences name) to the backend's and puts
 * the stored marks back into an update.
 */
import type { ServerResponse } from 'node:http';
import type { ClusterConnection } from '../../lib/kube/cluster-connection.js';
import { KindDiscovery, servedObjectPath } from '../../lib/kube/kind-discovery.js';
import { originalIdentity } from '../../lib/routing/object-identity.js';
import { type KubeObject } from '../../lib/kube/types.js';
import { ownerReferencesOf } from '../../lib/mirror/owner-references.js';
import {
  bodyKindOf,
  bridgeAnnotationEdits,
  presentedTargetUids,
  reversed,
  rewriteRequestIdentity,
  targetUidMap,
  type BodyKind,
} from '../../lib/routing/request-identity.js';
import { readProtobufIdentity, rewriteProtobufIdentity, type ProtobufIdentityView } from '../../lib/routing/protobuf-identity.js';
import { bodyFormat } from '../../lib/routing/request-rewrite.js';
import { parseJsonExact, type ShardRVCodec } from '../../lib/routing/resource-version.js';
import type { ClusterSide, RequestInfo } from '../../lib/routing/types.js';
import { forbiddenAnnotations } from '../../lib/routing/status-responses.js';
import { callBackend } from './backend-call.js';
import { jsonReadHeaders } from './shadow-reads.js';
import { parseCreateBody } from './source-allocation.js';

const READ_TIMEOUT_MS = 10_000;

export interface WriteToIdentify {
  info: RequestInfo;
  target: ClusterSide;
  cluster: ClusterConnection;
  /** Moved shards only: their answers show the original's identity, so their requests present it. */
  codec: ShardRVCodec | undefined;
  /** The caller's headers for a body of `length` bytes (a GET sends none). */
  headersForBody(length: number): string[];
  contentType: string;
}

/** The body to send and the backend UIDs replaced (backend -> presented) for the answer; or the client was answered. */
export type IdentifiedWrite = { ok: true; body: Buffer; uids: ReadonlyMap<string, string> } | { ok: false };

function parseBody(body: Buffer, contentType: string): unknown {
  if (contentType.startsWith('application/apply-patch+yaml')) return parseCreateBody(body, true);
  try {
    // Protobuf: only what the decisions read, in the shape of a JSON body (protobuf-identity.ts).
    return bodyFormat(contentType) === 'protobuf' ? readProtobufIdentity(body) : parseJsonExact(body.toString('utf8'));
  } catch {
    return undefined; // the backend refuses it with its own 400
  }
}

/** An object (the target by default) as the caller reads it on the backend; undefined when it cannot (not found, not allowed, unreachable). */
async function readStored(write: WriteToIdentify, path = write.info.path): Promise<KubeObject | undefined> {
  const agent = write.target === 'destination' ? write.cluster.asBridge : write.cluster.asCaller;
  try {
    // JSON whatever the caller accepts (client-go's typed clients accept protobuf first).
    const got = await callBackend(write.cluster, { method: 'GET', path, headers: jsonReadHeaders(write.headersForBody(0)), agent, timeoutMs: READ_TIMEOUT_MS });
    if (got.status !== 200) return undefined;
    const obj = parseJsonExact(got.body.toString('utf8')) as KubeObject;
    return obj?.metadata ? obj : undefined;
  } catch {
    return undefined;
  }
}

/** Discovery per backend, with the bridge's credentials (discovery is open to every authenticated identity). */
const discoveries = new WeakMap<ClusterConnection, KindDiscovery>();

/**
 * Presented -> backend UIDs of the owners the body's ownerReferences name, each read on the backend as
 * the caller: mapped when that object shows the UID presented (the owner's copy there), left as
 * presented otherwise (the backend's garbage collector then treats the owner as absent, as it would).
 */
async function ownerUidMap(write: WriteToIdentify, parsed: unknown): Promise<Map<string, string>> {
  const uids = new Map<string, string>();
  const metadata = (parsed as { metadata?: unknown } | null)?.metadata;
  if (typeof metadata !== 'object' || metadata === null) return uids;
  let discovery = discoveries.get(write.cluster);
  if (!discovery) discoveries.set(write.cluster, (discovery = new KindDiscovery(write.cluster.rest, write.target)));
  for (const ref of ownerReferencesOf(parsed as KubeObject)) {
    const served = await discovery.servedKind(ref.apiVersion, ref.kind).catch(() => undefined);
    const owner = served && (await readStored(write, servedObjectPath(ref.apiVersion, served, write.info.namespace, ref.name)));
    const backend = owner?.metadata.uid;
    if (owner && backend && backend !== ref.uid && originalIdentity(owner).uid === ref.uid) uids.set(ref.uid, backend);
  }
  return uids;
}

/** Cheap test before a parse: a key escaped in any way (JSON \\u, YAML \\x, JSON Patch ~1) still leaves a backslash or the group. */
const mentionsBridgeKeys = (body: Buffer) => body.includes('cluster-bridge.io') || body.includes('\\');

/** A protobuf body is a whole object (create, update) or DeleteOptions: client-go sends no protobuf patch. */
export function writeKind(verb: string, contentType: string): BodyKind | 'delete' | undefined {
  if (verb === 'delete') return 'delete';
  if (bodyFormat(contentType) === 'protobuf') return verb === 'create' || verb === 'update' ? 'object' : undefined;
  return bodyKindOf(verb, contentType);
}

/** The bridge annotations the write would touch, answered with 422 when any (true: answered). */
function refusedAnnotations(write: WriteToIdentify, parsed: unknown, kind: BodyKind, stored: KubeObject | undefined, res: ServerResponse): boolean {
  const edits = bridgeAnnotationEdits(parsed, kind, stored);
  if (edits.length === 0) return false;
  // A create's name is the body's (kube-apiserver names the object, or "" when generateName makes it).
  const body = parsed as { kind?: unknown; metadata?: { name?: unknown } } | null;
  const named = typeof body?.kind === 'string' ? body.kind : write.info.resource;
  const name = write.info.name || (typeof body?.metadata?.name === 'string' ? body.metadata.name : '');
  forbiddenAnnotations(res, write.info, { kind: named, name }, edits);
  return true;
}

/** The body with the request-identity rewriting applied, in its own format; `body` itself when nothing changed. */
function rewrittenBody(contentType: string, body: Buffer, parsed: unknown, uids: ReadonlyMap<string, string>, restoreFrom: KubeObject | undefined): Buffer {
  if (bodyFormat(contentType) === 'protobuf') return rewriteProtobufIdentity(body, parsed as ProtobufIdentityView, uids, restoreFrom);
  return rewriteRequestIdentity(parsed, uids, restoreFrom) ? Buffer.from(JSON.stringify(parsed)) : body;
}

export async function identifyWrite(write: WriteToIdentify, body: Buffer, res: ServerResponse): Promise<IdentifiedWrite> {
  const { info, codec } = write;
  const kind = writeKind(info.verb, write.contentType);
  const unchanged = { ok: true as const, body, uids: new Map<string, string>() };
  if (!kind || body.length === 0 || (!codec && !mentionsBridgeKeys(body))) return unchanged;
  const parsed = parseBody(body, write.contentType);
  if (parsed === undefined) return unchanged;
  const mainResource = info.subresource === '' && info.name !== '';
  // An update of a moved shard needs the stored marks; any update that repeats a mark needs them to tell it unchanged.
  const update = info.verb === 'update' && mainResource;
  let stored = update && (codec || mentionsBridgeKeys(body)) ? await readStored(write) : undefined;
  if (kind !== 'delete' && refusedAnnotations(write, parsed, kind, stored, res)) return { ok: false };
  // A YAML apply is checked, not rewritten: a UID it names goes on as presented (the backend refuses a mismatch).
  if (!codec || write.contentType.startsWith('application/apply-patch+yaml')) return unchanged;
  if (!stored && mainResource && presentedTargetUids(parsed).length > 0) stored = await readStored(write);
  const uids = new Map([...targetUidMap(stored), ...(await ownerUidMap(write, parsed))]);
  return { ok: true, body: rewrittenBody(write.contentType, body, parsed, uids, update ? stored : undefined), uids: reversed(uids) };
}
