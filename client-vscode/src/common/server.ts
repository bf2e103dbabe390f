/**
 * Finding the language server, in this order:
 *
 * 1. the `localroute.server.path` setting (a whole argv) — not in an untrusted workspace;
 * 2. the server bundled with the extension, in the environment the extension owns
 *    (installed on first start, see bundled.ts);
 * 3. when the extension has no bundled server or could not install it: the interpreter
 *    chosen in the Python extension, as `python -m localroute serve`, when that extension is
 *    installed and the interpreter has localroute — not in an untrusted workspace (the
 *    interpreter may be the repository's own `.venv`);
 * 4. `localroute serve` with `localroute` found on `PATH`.
 *
 * Pure: every effect (settings, the Python extension, the file system) comes in as a
 * dependency, so `node --test` checks the order and the messages.
 */

export type ServerSource = 'setting' | 'bundled' | 'python' | 'path';

export interface ServerCommand {
  argv: string[];
  source: ServerSource;
}

export interface DiscoveryDeps {
  /** `localroute.server.path`: the effective value (empty or undefined when unset). */
  settingArgv: readonly string[] | undefined;
  /** `vscode.workspace.isTrusted` */
  trusted: boolean;
  /** Whether the Python extension (`ms-python.python`) is installed. */
  pythonExtensionInstalled: boolean;
  /** The path of the interpreter chosen in the Python extension, if any. */
  pythonInterpreter: () => Promise<string | undefined>;
  /** Whether `python -m localroute` works with this interpreter. */
  pythonHasLocalroute: (python: string) => Promise<boolean>;
  /** Resolve a program name on PATH, or check a path: the absolute path if executable. */
  which: (program: string) => Promise<string | undefined>;
  /** The bundled server's argv (installing it first if needed); `absent` when the package
   * ships none; an error message when it could not be installed. */
  bundled: () => Promise<{ argv: string[] } | { absent: true } | { error: string }>;
}

export interface Discovery {
  /** The command to run; undefined when nothing works. */
  command?: ServerCommand;
  /** What was tried and why it was passed over, for the log. */
  notes: string[];
  /** Shown to the user as a warning even when a server was found (e.g. a refused setting). */
  warnings: string[];
  /** Shown as an error when no server was found. */
  error?: string;
}

export function notFoundMessage(bundleError: string | undefined): string {
  const why = bundleError
    ? `the bundled server could not be installed: ${bundleError}`
    : 'this build of the extension has no bundled server';
  return (
    `localroute: the language server was not found (${why}). ` +
    'Set `localroute.server.path` to the command line of a server you installed, e.g. ' +
    '["/path/to/python", "-m", "localroute", "serve"], then run "localroute: Restart Server".'
  );
}

export function describe(command: ServerCommand): string {
  const from = {
    setting: 'the localroute.server.path setting',
    bundled: 'the server bundled with the extension',
    python: "the Python extension's interpreter",
    path: 'PATH',
  }[command.source];
  return `${command.argv.join(' ')} (from ${from})`;
}

export async function findServer(deps: DiscoveryDeps): Promise<Discovery> {
  const notes: string[] = [];
  const warnings: string[] = [];

  // 1. the setting
  const setting = (deps.settingArgv ?? []).filter((part) => typeof part === 'string');
  if (setting.length > 0) {
    if (!deps.trusted) {
      const why =
        'localroute.server.path is not used in an untrusted workspace ' +
        '(it runs a program); trust the workspace to use it.';
      notes.push(why);
      warnings.push(`localroute: ${why}`);
    } else {
      const program = await deps.which(setting[0]);
      if (program !== undefined) {
        return { command: { argv: [program, ...setting.slice(1)], source: 'setting' }, notes, warnings };
      }
      const why = `localroute.server.path: '${setting[0]}' was not found or is not executable.`;
      notes.push(why);
      warnings.push(`localroute: ${why} Trying the Python extension's interpreter, then PATH.`);
    }
  } else {
    notes.push('localroute.server.path is not set.');
  }

  // 2. the bundled server
  let bundleError: string | undefined;
  const bundled = await deps.bundled();
  if ('argv' in bundled) {
    return { command: { argv: bundled.argv, source: 'bundled' }, notes, warnings };
  }
  if ('error' in bundled) {
    bundleError = bundled.error;
    notes.push(`The bundled server could not be installed: ${bundled.error}`);
    warnings.push(`localroute: the bundled server could not be installed: ${bundled.error}`);
  } else {
    notes.push('This build of the extension has no bundled server.');
  }

  // 3. the Python extension's interpreter
  if (!deps.pythonExtensionInstalled) {
    notes.push('The Python extension is not installed.');
  } else if (!deps.trusted) {
    notes.push("The Python extension's interpreter is not used in an untrusted workspace.");
  } else {
    let python: string | undefined;
    try {
      python = await deps.pythonInterpreter();
    } catch (err) {
      notes.push(`The Python extension did not name an interpreter: ${String(err)}`);
    }
    if (python === undefined) {
      notes.push('No interpreter is selected in the Python extension.');
    } else if (await deps.pythonHasLocalroute(python)) {
      return {
        command: { argv: [python, '-m', 'localroute', 'serve'], source: 'python' },
        notes,
        warnings,
      };
    } else {
      notes.push(`The selected interpreter ${python} has no localroute (python -m localroute failed).`);
    }
  }

  // 4. PATH
  const onPath = await deps.which('localroute');
  if (onPath !== undefined) {
    return { command: { argv: [onPath, 'serve'], source: 'path' }, notes, warnings };
  }
  notes.push('localroute is not on PATH.');
  // The error says it all; the warning about the bundle would repeat it.
  return { notes, warnings: warnings.filter((w) => !w.includes('bundled server')), error: notFoundMessage(bundleError) };
}
