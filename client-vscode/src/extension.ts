/** Activation only: the pieces live in common/. */

import * as vscode from 'vscode';

import { BulkReview } from './common/bulk';
import { LocalrouteClient } from './common/client';
import { Commands } from './common/commands';
import { RouteStatusItem } from './common/statusItem';

let lsp: LocalrouteClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('localroute', { log: true });
  lsp = new LocalrouteClient(output, {
    extensionPath: context.extensionPath,
    globalStorage: context.globalStorageUri.fsPath,
  });
  const status = new RouteStatusItem(lsp);
  context.subscriptions.push(
    output,
    lsp,
    status,
    ...new Commands(lsp, status).register(),
    ...new BulkReview(lsp, status).register(),
  );
  await lsp.start();
  await status.refresh();
}

export async function deactivate(): Promise<void> {
  await lsp?.stop();
}
