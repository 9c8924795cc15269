/**
 * kwok v0.8.0's exec has two bugs that break what the lab exists to test, so the lab builds kwok from
 * a copy of its module with two small fixes (the copy lives in the build cache, never in this repo):
 * 1. stdin's end never reaches the process: pkg/utils/exec copies the client's stdin into the
 *    process's pipe and never closes the pipe, so `cat` (or anything reading to EOF) never ends.
 * 2. a non-zero exit code comes back as "Internal error": kwok wraps the process's *exec.ExitError,
 *    and the streaming server recognizes exit codes only by a type assertion to
 *    k8s.io/utils/exec.ExitError, so kubectl exits 1 instead of the command's code.
 * Each fix names the exact text it replaces; a kwok whose source differs fails the build loudly.
 */
import { chmodSync, cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError } from '../lib/errors.js';

/** Part of the cache key: bump it when the fixes change, so cached binaries are rebuilt. */
export const KWOK_FIXES_REVISION = 'bridge1';

interface SourceFix {
  file: string;
  why: string;
  find: string;
  replace: string;
}

const FIXES: SourceFix[] = [
  {
    file: 'pkg/utils/exec/exec.go',
    why: 'close the stdin pipe once the client has sent everything',
    find: '\t\t\t\t_, _ = io.Copy(inPipe, opt.In)\n',
    replace: '\t\t\t\t_, _ = io.Copy(inPipe, opt.In)\n\t\t\t\t_ = inPipe.Close()\n',
  },
  {
    file: 'pkg/kwok/server/debugging_exec.go',
    why: 'report the exit code as the streaming server expects it',
    find: '\tif tty {\n\t\treturn s.execInContainerWithTTY(ctx, cmd, in, stdout, resize)\n\t}\n\n\treturn s.execInContainer(ctx, cmd, in, stdout, stderr)\n',
    replace: [
      '\tif tty {',
      '\t\terr = s.execInContainerWithTTY(ctx, cmd, in, stdout, resize)',
      '\t} else {',
      '\t\terr = s.execInContainer(ctx, cmd, in, stdout, stderr)',
      '\t}',
      '\tvar exitErr *osexec.ExitError',
      '\tif errors.As(err, &exitErr) {',
      '\t\treturn k8sutilsexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}',
      '\t}',
      '\treturn err',
      '',
    ].join('\n'),
  },
  {
    file: 'pkg/kwok/server/debugging_exec.go',
    why: 'imports for the exit code',
    find: 'import (\n\t"context"\n',
    replace: 'import (\n\t"context"\n\t"errors"\n\tosexec "os/exec"\n\n\tk8sutilsexec "k8s.io/utils/exec"\n',
  },
];

/** Copies kwok's module source to `dir` (writable) and applies the fixes; returns the folder to build in. */
export function preparePatchedKwok(moduleDir: string, dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  cpSync(moduleDir, dir, { recursive: true });
  makeWritable(dir); // the Go module cache is read-only
  for (const fix of FIXES) {
    const path = join(dir, fix.file);
    const text = readFileSync(path, 'utf8');
    if (!text.includes(fix.find)) {
      throw new BridgeError('BRIDGE_ERR_LAB_BUILD_FAILED', `kwok's ${fix.file} is not the source the lab's fix (${fix.why}) was written for`, {
        fix: 'update lab/kwok-source.ts for this kwok version',
      });
    }
    writeFileSync(path, text.replace(fix.find, fix.replace));
  }
  return dir;
}

function makeWritable(path: string): void {
  const stat = statSync(path);
  chmodSync(path, stat.mode | 0o200);
  if (stat.isDirectory()) for (const entry of readdirSync(path)) makeWritable(join(path, entry));
}
