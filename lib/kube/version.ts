/** An API server's `/version`, read by the webhook (native sidecars) and the aggregator (whether the fence can be enforced). */
export interface VersionInfo {
  major?: string;
  minor?: string;
  gitVersion?: string;
}

/** Managed distributions report minors like "29+"; gitVersion is the fallback. */
export function parseMinor(info: VersionInfo): { major: number; minor: number } | undefined {
  const major = Number.parseInt(info.major ?? '', 10);
  const minor = Number.parseInt(info.minor ?? '', 10);
  if (Number.isInteger(major) && Number.isInteger(minor)) return { major, minor };
  const match = /^v?(\d+)\.(\d+)/.exec(info.gitVersion ?? '');
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : undefined;
}
