/** Node-side helpers for server discovery: PATH lookup and a quick interpreter check. */

import { execFile } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { RunResult } from './bundled';

async function executable(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) {
      return false;
    }
    if (process.platform === 'win32') {
      return true;
    }
    await fs.access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A program name looked up on PATH, or a path (absolute, `~/…`, or relative to `cwd`)
 * checked to be an executable file. */
export async function which(
  program: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd?: string,
): Promise<string | undefined> {
  if (!program) {
    return undefined;
  }
  let name = program;
  if (name === '~' || name.startsWith('~/')) {
    name = path.join(env.HOME ?? env.USERPROFILE ?? '', name.slice(1));
  }
  const extensions =
    process.platform === 'win32' ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  if (name.includes('/') || name.includes(path.sep)) {
    const full = path.isAbsolute(name) ? name : path.resolve(cwd ?? process.cwd(), name);
    for (const ext of extensions) {
      if (await executable(full + ext)) {
        return full + ext;
      }
    }
    return undefined;
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    // A relative PATH entry (`.`, `bin`) would run a program of whatever folder is current,
    // e.g. the workspace's: never.
    if (!dir || !path.isAbsolute(dir)) {
      continue;
    }
    for (const ext of extensions) {
      const candidate = path.join(dir, name + ext);
      if (await executable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** Runs a program and collects its output; never throws (a start failure is `error`). */
export function runProgram(
  argv: string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = os.tmpdir(),
): Promise<RunResult> {
  return new Promise((resolve) => {
    const [program, ...args] = argv;
    execFile(
      program,
      args,
      // cwd: never the workspace (`python -m` imports from its current folder)
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env, cwd, windowsHide: true },
      (err, stdout, stderr) => {
        const failed = err as (NodeJS.ErrnoException & { code?: unknown; killed?: boolean }) | null;
        if (failed && typeof failed.code === 'string') {
          // ENOENT, EACCES: the program did not start
          resolve({ code: null, stdout: String(stdout), stderr: String(stderr), error: `cannot run ${program}: ${failed.code}` });
          return;
        }
        const code = failed === null ? 0 : typeof failed.code === 'number' ? failed.code : null;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) + (failed?.killed ? `\n(stopped after ${timeoutMs / 1000} s)` : '') });
      },
    );
  });
}

/** Whether `python -m localroute --version` succeeds within `timeoutMs`. */
export function pythonHasLocalroute(python: string, timeoutMs = 15000): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(python, ['-m', 'localroute', '--version'], { timeout: timeoutMs }, (err) => {
      resolve(err === null);
    });
  });
}
