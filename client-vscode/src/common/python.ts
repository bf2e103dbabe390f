/** The interpreter chosen in the Python extension (`ms-python.python`), through its API. */

import * as vscode from 'vscode';

export const PYTHON_EXTENSION_ID = 'ms-python.python';

interface EnvironmentPath {
  readonly id: string;
  readonly path: string;
}

interface PythonExtensionApi {
  readonly environments: {
    getActiveEnvironmentPath(resource?: vscode.Uri): EnvironmentPath;
    resolveEnvironment(
      environment: EnvironmentPath | string,
    ): Promise<{ readonly executable: { readonly uri: vscode.Uri | undefined } } | undefined>;
    readonly onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
  };
}

function extension(): vscode.Extension<PythonExtensionApi> | undefined {
  return vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
}

export function pythonExtensionInstalled(): boolean {
  return extension() !== undefined;
}

async function api(): Promise<PythonExtensionApi | undefined> {
  const ext = extension();
  if (ext === undefined) {
    return undefined;
  }
  const exports = ext.isActive ? ext.exports : await ext.activate();
  return exports?.environments ? exports : undefined;
}

/** The selected interpreter's executable for the first workspace folder. */
export async function selectedInterpreter(): Promise<string | undefined> {
  const python = await api();
  if (python === undefined) {
    return undefined;
  }
  const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
  const active = python.environments.getActiveEnvironmentPath(resource);
  const resolved = await python.environments.resolveEnvironment(active);
  return resolved?.executable.uri?.fsPath;
}

/** Calls `listener` when the user picks another interpreter (no-op without the extension). */
export async function onInterpreterChange(listener: () => void): Promise<vscode.Disposable> {
  const ext = extension();
  if (ext === undefined || !ext.isActive) {
    // Not activated yet: do not activate the Python extension only to listen.
    return new vscode.Disposable(() => undefined);
  }
  const python = await api();
  return python ? python.environments.onDidChangeActiveEnvironmentPath(listener) : new vscode.Disposable(() => undefined);
}
