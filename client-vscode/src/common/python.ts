/** The interpreter chosen in the Python extension (`ms-python.python`), through its API
 * (`@vscode/python-extension`). */

import { PVSC_EXTENSION_ID, PythonExtension } from '@vscode/python-extension';
import * as vscode from 'vscode';

export function pythonExtensionInstalled(): boolean {
  return vscode.extensions.getExtension(PVSC_EXTENSION_ID) !== undefined;
}

/** The selected interpreter's executable for the first workspace folder. */
export async function selectedInterpreter(): Promise<string | undefined> {
  if (!pythonExtensionInstalled()) {
    return undefined;
  }
  const python = await PythonExtension.api();
  const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
  const active = python.environments.getActiveEnvironmentPath(resource);
  const resolved = await python.environments.resolveEnvironment(active);
  return resolved?.executable.uri?.fsPath;
}

/** Calls `listener` when the user picks another interpreter (no-op without the extension). */
export async function onInterpreterChange(listener: () => void): Promise<vscode.Disposable> {
  const extension = vscode.extensions.getExtension(PVSC_EXTENSION_ID);
  if (extension === undefined || !extension.isActive) {
    // Not activated yet: do not activate the Python extension only to listen.
    return new vscode.Disposable(() => undefined);
  }
  const python = await PythonExtension.api();
  return python.environments.onDidChangeActiveEnvironmentPath(listener);
}
