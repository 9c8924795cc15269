/**
 * The source fence's name and the words of its refusal (aggregator/handoff/fencing.ts writes the policy), in
 * one place so the sidecar recognises a fenced write by the very text the policy sends: a 403 whose
 * body carries FENCE_REFUSAL_TEXT was refused by admission, so the write never executed and may go
 * to the aggregator once (DESIGN.md section 3, Local routing).
 */

export const FENCE_NAME = 'cluster-bridge-fence';

/**
 * The policy's message after the resource name. No `"`, `\`, `<`, `>` or `&`: JSON (Go escapes the last
 * three) and protobuf Status bodies both carry it byte for byte, so a plain byte search finds it.
 */
export const FENCE_REFUSAL_TEXT =
  'is served by the destination cluster while cluster-bridge migrates it: write through the cluster-bridge aggregator (this source API server is fenced for it)';

const REFUSAL_BYTES = Buffer.from(FENCE_REFUSAL_TEXT, 'utf8');

/**
 * Whether an answer of the source API server is the fence refusing a write. Any other 403 (RBAC, a
 * webhook, another policy) is the client's answer and is relayed as it is. A compressed body cannot
 * be read here and counts as not fenced (kube-apiserver compresses only large answers; a Status is small).
 */
export function isFenceRefusal(status: number, body: Buffer, contentEncoding?: string): boolean {
  if (status !== 403) return false;
  if (contentEncoding && contentEncoding.toLowerCase() !== 'identity') return false;
  return body.includes(REFUSAL_BYTES);
}
