// Installs what the demo and the tests need from the project's own files; runs on any Node >= 18.
// npm packages: `npm install` (exact versions from package-lock.json) when node_modules is missing or
// was installed from another lock. Not `npm ci`: the registry reachable here lacks the other platforms'
// optional binaries of unrs-resolver (a jest dependency), so the lock cannot list them and `npm ci`
// refuses it as out of sync; `npm install` honours the lock and leaves it unchanged.
// Debian packages: python3-kubernetes (a real Python client for the tests) when running as root.
// Go binaries are built on first use by `bridgectl lab up` and cached under ~/.cache/cluster-bridge.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const lockHash = createHash('sha256').update(readFileSync('package-lock.json')).digest('hex');
const marker = 'node_modules/.cluster-bridge-lock-hash';
if (!existsSync(marker) || readFileSync(marker, 'utf8') !== lockHash) {
  console.error('[setup] npm install');
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  writeFileSync(marker, lockHash);
}

const debianPackages = [['python3-kubernetes', ['/usr/bin/python3', '-c', 'import kubernetes']]];
const missing = debianPackages.filter(([, probe]) => spawnSync(probe[0], probe.slice(1), { stdio: 'ignore' }).status !== 0).map(([name]) => name);
if (missing.length > 0) {
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.error(`[setup] apt-get install ${missing.join(' ')}`);
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } else {
    console.error(`[setup] missing Debian packages: ${missing.join(' ')}; install them with: sudo apt-get install ${missing.join(' ')}`);
  }
}
