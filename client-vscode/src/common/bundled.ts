/**
 * The server that ships inside the extension: `bundled/localroute-<version>-py3-none-any.whl`
 * is installed, on first start, into a virtual environment the extension owns (under its
 * global storage), the way the Python tool extensions (ruff, the python-tools template) do.
 * The environment is made with the Python extension's interpreter when there is one (and the
 * workspace is trusted), else `python3` from PATH; pip installs the wheel and fetches its
 * dependencies as pip is configured (the package index, `PIP_INDEX_URL`, `--find-links`
 * of wheels shipped beside it). One environment per wheel content: a new extension version
 * installs afresh, and older environments are removed.
 *
 * The environment is built in a temporary folder and renamed into place only when
 * `python -m localroute --version` works, so a half-installed server is never started and two
 * windows installing at once cannot mix their files.
 *
 * No runtime import of `vscode`: every effect that is not the file system comes in as a
 * dependency, so `node --test` runs it.
 */

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all. */
  error?: string;
}

export interface BundleDeps {
  /** The folder of the extension that holds the wheel (`<extension>/bundled`). */
  bundleDir: string;
  /** The extension's own storage (`context.globalStorageUri.fsPath`). */
  storageDir: string;
  /** Interpreters to make the environment with, best first (absolute paths). */
  interpreters: () => Promise<string[]>;
  /** Runs a program; never throws. */
  run: (argv: string[], timeoutMs: number) => Promise<RunResult>;
  log: (line: string) => void;
  platform?: NodeJS.Platform;
}

export interface Bundle {
  wheel: string;
  venv: string;
  python: string;
  /** Whether the environment is installed and checked. */
  ready: boolean;
}

export const READY_MARKER = '.localroute-ready';
export const MIN_PYTHON: readonly [number, number] = [3, 11];

const VENV_TIMEOUT_MS = 180_000;
const PIP_TIMEOUT_MS = 900_000;
const CHECK_TIMEOUT_MS = 60_000;

export function venvPython(venv: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? path.join(venv, 'Scripts', 'python.exe') : path.join(venv, 'bin', 'python');
}

/**
 * The argv that runs the bundled server from its environment. `-I` (isolated mode): the
 * server starts in the workspace folder, and `python -m` would otherwise put that folder
 * first on `sys.path`, so a repository holding a `localroute/` folder could run its own code
 * in place of the server — even in an untrusted workspace. It also keeps `PYTHONPATH` and the
 * user's site-packages out of the extension's environment.
 */
export function serveArgv(bundle: Bundle): string[] {
  return [bundle.python, '-I', '-m', 'localroute', 'serve'];
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch {
    return false;
  }
}

/** The bundled wheel and where its environment is; undefined when the package has no wheel
 * (a development build). */
export async function locateBundle(deps: BundleDeps): Promise<Bundle | undefined> {
  let names: string[];
  try {
    names = await fs.readdir(deps.bundleDir);
  } catch {
    return undefined;
  }
  const wheels = names.filter((name) => /^localroute-[^-]+-.*\.whl$/.test(name)).sort();
  if (wheels.length === 0) {
    return undefined;
  }
  // One wheel is shipped; if a build left several, the highest version name wins.
  const wheel = path.join(deps.bundleDir, wheels[wheels.length - 1]);
  const digest = createHash('sha256')
    .update(await fs.readFile(wheel))
    .digest('hex')
    .slice(0, 16);
  const venv = path.join(deps.storageDir, `server-${digest}`);
  const python = venvPython(venv, deps.platform);
  const ready = (await exists(path.join(venv, READY_MARKER))) && (await exists(python));
  return { wheel, venv, python, ready };
}

function lastLines(text: string, n = 3): string {
  return text.trim().split(/\r?\n/).slice(-n).join(' | ');
}

function failure(step: string, result: RunResult): string {
  if (result.error) {
    return `${step}: ${result.error}`;
  }
  const output = lastLines(result.stderr) || lastLines(result.stdout) || 'no output';
  return `${step} failed (exit ${result.code ?? 'killed'}): ${output}`;
}

/** The first interpreter that is Python ≥ 3.11 with the `venv` module; what was passed over. */
export async function chooseInterpreter(deps: BundleDeps): Promise<{ python?: string; notes: string[] }> {
  const notes: string[] = [];
  const probe = 'import sys, venv, ensurepip; print("%d.%d" % sys.version_info[:2])';
  for (const python of await deps.interpreters()) {
    // -I everywhere: nothing of the current folder or of PYTHON* variables is imported
    const result = await deps.run([python, '-I', '-c', probe], CHECK_TIMEOUT_MS);
    const match = /^(\d+)\.(\d+)\s*$/.exec(result.stdout.trim());
    if (result.code !== 0 || match === null) {
      notes.push(`${python}: ${failure('check', result)}`);
      continue;
    }
    const version: [number, number] = [Number(match[1]), Number(match[2])];
    if (version[0] < MIN_PYTHON[0] || (version[0] === MIN_PYTHON[0] && version[1] < MIN_PYTHON[1])) {
      notes.push(`${python} is Python ${version.join('.')}; the server needs ${MIN_PYTHON.join('.')} or later`);
      continue;
    }
    return { python, notes };
  }
  return { notes };
}

export class BundleError extends Error {}

/**
 * Installs the wheel into a new environment, checks it, and moves it into place. `report`
 * hears each step (for a progress notification). Throws {@link BundleError} with a message
 * that names the step and the reason.
 */
export async function installBundle(
  deps: BundleDeps,
  bundle: Bundle,
  report: (step: string) => void = () => undefined,
): Promise<Bundle> {
  const chosen = await chooseInterpreter(deps);
  for (const note of chosen.notes) {
    deps.log(`bundled server: ${note}`);
  }
  if (chosen.python === undefined) {
    throw new BundleError(
      `no Python ${MIN_PYTHON.join('.')} or later with the venv module was found to install the bundled server` +
        (chosen.notes.length > 0 ? ` (${chosen.notes.join('; ')})` : ' (no python3 on PATH)'),
    );
  }
  await fs.mkdir(deps.storageDir, { recursive: true });
  const temp = path.join(
    deps.storageDir,
    `.install-${path.basename(bundle.venv)}-${process.pid}-${Date.now().toString(36)}`,
  );
  const tempPython = venvPython(temp, deps.platform);
  try {
    report(`creating its environment with ${chosen.python}`);
    deps.log(`bundled server: ${chosen.python} -I -m venv ${temp}`);
    const made = await deps.run([chosen.python, '-I', '-m', 'venv', temp], VENV_TIMEOUT_MS);
    if (made.code !== 0) {
      throw new BundleError(failure(`${chosen.python} -m venv`, made));
    }
    report(`installing ${path.basename(bundle.wheel)} and its dependencies (pip)`);
    const pip = [
      tempPython,
      '-I',
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '--no-input',
      '--find-links',
      path.dirname(bundle.wheel),
      bundle.wheel,
    ];
    deps.log(`bundled server: ${pip.join(' ')}`);
    const installed = await deps.run(pip, PIP_TIMEOUT_MS);
    if (installed.code !== 0) {
      throw new BundleError(
        `${failure('pip install', installed)} — pip fetches the server's dependencies from the package ` +
          'index as pip is configured (PIP_INDEX_URL, pip.conf); or set localroute.server.path to a server you installed',
      );
    }
    const check = await deps.run([tempPython, '-I', '-m', 'localroute', '--version'], CHECK_TIMEOUT_MS);
    if (check.code !== 0) {
      throw new BundleError(failure('the installed server', check));
    }
    deps.log(`bundled server: ${check.stdout.trim() || 'installed'}`);
    const marker = {
      wheel: path.basename(bundle.wheel),
      interpreter: chosen.python,
      version: check.stdout.trim(),
      installed: new Date().toISOString(),
    };
    await fs.writeFile(path.join(temp, READY_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
    try {
      await fs.rename(temp, bundle.venv);
    } catch (err) {
      // Another window finished first: use its environment.
      if (!(await exists(path.join(bundle.venv, READY_MARKER)))) {
        throw new BundleError(`cannot move the environment into ${bundle.venv}: ${String(err)}`);
      }
      deps.log('bundled server: another window installed it first; using that one');
    }
  } finally {
    await fs.rm(temp, { recursive: true, force: true }).catch(() => undefined);
  }
  await removeOthers(deps.storageDir, bundle.venv);
  return { ...bundle, ready: true };
}

/** Environments of other wheel versions, and installs left behind by a crash, are removed. */
async function removeOthers(storageDir: string, keep: string): Promise<void> {
  let names: string[] = [];
  try {
    names = await fs.readdir(storageDir);
  } catch {
    return;
  }
  const hour = 3600_000;
  for (const name of names) {
    const full = path.join(storageDir, name);
    if (full === keep) {
      continue;
    }
    if (name.startsWith('server-')) {
      await fs.rm(full, { recursive: true, force: true }).catch(() => undefined);
    } else if (name.startsWith('.install-')) {
      const stat = await fs.stat(full).catch(() => undefined);
      if (stat !== undefined && Date.now() - stat.mtimeMs > hour) {
        await fs.rm(full, { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }
}
