/** Kubernetes' own parsing of user names: service accounts (serviceaccount.SplitUsername) and DNS names. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const isSubdomain = (s: string) => s.length <= 253 && DNS1123_SUBDOMAIN.test(s);

/** serviceaccount.SplitUsername. */
export function serviceAccountOf(username: string): { namespace: string; name: string } | undefined {
  const prefix = 'system:serviceaccount:';
  if (!username.startsWith(prefix)) return undefined;
  const parts = username.slice(prefix.length).split(':');
  if (parts.length !== 2) return undefined;
  const [namespace, name] = parts as [string, string];
  if (namespace.length > 63 || !DNS1123_LABEL.test(namespace) || !isSubdomain(name)) return undefined;
  return { namespace, name };
}
