/**
 * When to renew, as a pure function of the clock and the certificates' lifetimes (vault-k8s and
 * cert-manager renew at two thirds of the lifetime; so do we, or earlier when asked).
 */
import type { CertificateLifetime as Lifetime } from '../lib/tls/pki.js';

export type RenewalAction = 'none' | 'renew-leaf' | 'rotate-ca';

/** True once the remaining lifetime is below renewBeforeMs, or below a third of the lifetime when not given. */
export function isDue(now: Date, cert: Lifetime, renewBeforeMs?: number): boolean {
  const total = cert.notAfter.getTime() - cert.notBefore.getTime();
  const remaining = cert.notAfter.getTime() - now.getTime();
  return remaining <= (renewBeforeMs ?? total / 3);
}

export function renewalAction(now: Date, ca: Lifetime, leaf: Lifetime, renewBeforeMs?: number): RenewalAction {
  // A CA that would expire before a fresh leaf does is rotated first; the leaf follows from the new CA.
  if (isDue(now, ca) || ca.notAfter.getTime() <= now.getTime() + (leaf.notAfter.getTime() - leaf.notBefore.getTime())) return 'rotate-ca';
  if (isDue(now, leaf, renewBeforeMs)) return 'renew-leaf';
  return 'none';
}

/** The CAs a caBundle should hold: the current one first, then earlier ones until they expire. */
export function mergeCaBundle(current: string, previous: string[], now: Date, notAfterOf: (pem: string) => Date): string[] {
  const keep = previous.filter((pem) => pem.trim() !== current.trim() && notAfterOf(pem).getTime() > now.getTime());
  return [current, ...keep.slice(0, 2)];
}
