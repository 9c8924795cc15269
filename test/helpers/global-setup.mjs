// Starts the lab once per test run, or reuses a running one; global-teardown stops only what we started.
// Plain ESM over the compiled code: Jest loads global setup with Node's own resolver (`npm test` builds dist/ first).
import { labUp } from '../../dist/lab/lab.js';
import { uninstallComponents } from '../../dist/lab/install.js';
import { ensureLabBinaries } from '../../dist/lab/build.js';
import { PRE_NATIVE_SIDECAR_VERSION } from '../../dist/lab/versions.js';

export default async function globalSetup() {
  // For quick unit-only runs while developing (`BRIDGE_NO_LAB=1 npx jest test/unit`); CI always starts the lab.
  if (process.env.BRIDGE_NO_LAB === '1') return;
  const progress = (line) => process.stderr.write(`[lab] ${line}\n`);
  // The older-release suite's binaries are built here, before any test runs (and before anything is
  // started, so a failed build leaves nothing behind), so a cold compile never competes for the CPU.
  const older = await ensureLabBinaries(PRE_NATIVE_SIDECAR_VERSION, progress);
  if (older.builtSeconds) progress(`built ${PRE_NATIVE_SIDECAR_VERSION} in ${older.builtSeconds.toFixed(0)} s`);
  // The tests own the lab: one that differs from what they need (older layout, other settings) is replaced.
  const result = await labUp({ progress, replace: true });
  globalThis.__labStartedByTests = !result.alreadyRunning;
  // Components a demo left running (`lab install`) would act on the tests' namespaces too (its
  // reconciler, its webhook): the tests own the lab while they run. `bridgectl lab install` restores them.
  const stopped = await uninstallComponents();
  if (stopped > 0) process.stderr.write(`[lab] stopped ${stopped} components left by \`lab install\`\n`);
  process.stderr.write(
    result.alreadyRunning
      ? '[lab] reusing the running lab\n'
      : `[lab] started in ${result.startSeconds.toFixed(1)} s${result.buildSeconds ? `, built binaries in ${result.buildSeconds.toFixed(0)} s` : ''}\n`,
  );
}
