/**
 * Check 1: the destination's Kubernetes is not older than the source's. A control plane moves to the
 * same or a newer minor release, as an upgrade does; moving back would serve the source's objects with
 * an older API and storage.
 */
import type { VersionInfo } from './clusters.js';
import type { CheckResult } from './report.js';

/** major and minor as numbers ("28+" is 28), or undefined when /version says something else. */
export function minorRelease(version: VersionInfo): { major: number; minor: number } | undefined {
  const major = Number.parseInt(version.major, 10);
  const minor = Number.parseInt(version.minor, 10);
  return Number.isFinite(major) && Number.isFinite(minor) ? { major, minor } : undefined;
}

export function compareVersions(source: VersionInfo, destination: VersionInfo): CheckResult {
  const both = `source ${source.gitVersion}, destination ${destination.gitVersion}`;
  const [s, d] = [minorRelease(source), minorRelease(destination)];
  if (!s || !d) {
    const unreadable = !s
      ? `source (major "${source.major}", minor "${source.minor}")`
      : `destination (major "${destination.major}", minor "${destination.minor}")`;
    return { check: 'versions', ok: false, detail: `cannot read the ${unreadable} version from /version (${both})`, fix: 'compare the two releases by hand' };
  }
  if (d.major < s.major || (d.major === s.major && d.minor < s.minor)) {
    return {
      check: 'versions',
      ok: false,
      detail: `the destination (${destination.gitVersion}) is older than the source (${source.gitVersion})`,
      fix: `upgrade the destination to Kubernetes ${s.major}.${s.minor} or newer`,
    };
  }
  return {
    check: 'versions',
    ok: true,
    detail: `${both}: the destination is ${d.minor === s.minor && d.major === s.major ? 'the same' : 'a newer'} minor release`,
  };
}
