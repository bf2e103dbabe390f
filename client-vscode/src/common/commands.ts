/** The palette and context-menu commands. */

import * as os from 'node:os';
import * as path from 'node:path';

import * as vscode from 'vscode';

import type { LocalrouteClient } from './client';
import { type BackendStatus, backendLine, type RouteResult, reviewMessage, type StatusResult } from './status';
import type { RouteStatusItem } from './statusItem';

/** JSON-RPC error codes the server answers with. */
const REQUEST_FAILED = -32803;
const REQUEST_CANCELLED = -32800;

type Task = 'review' | 'explain';
type Scope = 'selection' | 'file';

interface ReviewResult {
  backend: string;
  model: string;
  locality: string;
  reason: string;
  cached: boolean;
  findings: number;
}

interface ExplainResult {
  markdown: string;
  backend: string;
  model: string;
  locality: string;
  reason: string;
  cached: boolean;
}

function errorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LOCALROUTE_CONFIG) {
    return env.LOCALROUTE_CONFIG;
  }
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'localroute', 'config.toml');
}

export class Commands {
  constructor(
    private readonly lsp: LocalrouteClient,
    private readonly status: RouteStatusItem,
  ) {}

  register(): vscode.Disposable[] {
    return [
      vscode.commands.registerCommand('localroute.reviewSelection', () => this.run('review', 'selection')),
      vscode.commands.registerCommand('localroute.explainSelection', () => this.run('explain', 'selection')),
      vscode.commands.registerCommand('localroute.reviewFile', () => this.run('review', 'file')),
      vscode.commands.registerCommand('localroute.explainFile', () => this.run('explain', 'file')),
      vscode.commands.registerCommand('localroute.showStatus', () => this.showStatus()),
      vscode.commands.registerCommand('localroute.restart', async () => {
        await this.lsp.restart();
        await this.status.refresh();
      }),
    ];
  }

  /** Review or explain the selection or the file, with a cancellable progress notification. */
  async run(task: Task, scope: Scope): Promise<ReviewResult | ExplainResult | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined) {
      void vscode.window.showInformationMessage('localroute: open a file first.');
      return undefined;
    }
    if (scope === 'selection' && editor.selection.isEmpty) {
      const other = task === 'review' ? 'Review File' : 'Explain File';
      void vscode.window.showInformationMessage(
        `localroute: nothing is selected. Select some code, or run "localroute: ${other}".`,
      );
      return undefined;
    }
    if (this.lsp.running === undefined) {
      const choice = await vscode.window.showErrorMessage(
        `localroute: the language server is not running (${this.lsp.notRunning ?? 'stopped'}).`,
        'Restart',
        'Show Log',
      );
      if (choice === 'Restart') {
        await this.lsp.restart();
      } else if (choice === 'Show Log') {
        this.lsp.output.show();
      }
      return undefined;
    }
    const document = editor.document;
    const selection = editor.selection;
    const uri = document.uri.toString();
    const range =
      scope === 'selection'
        ? {
            start: { line: selection.start.line, character: selection.start.character },
            end: { line: selection.end.line, character: selection.end.character },
          }
        : null;
    const title = `${task === 'review' ? 'Review' : 'Explain'} ${scope}`;

    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `localroute: ${title}`, cancellable: true },
      async (progress, token) => {
        // Where it will go, from cached availability (nothing is sent); the server's own
        // progress in the status bar names the backend it is asking.
        void this.lsp
          .execute<RouteResult>('localroute.route', { uri, task })
          .then((route) => {
            const p = route.predicted;
            progress.report({ message: p ? `asking ${p.model} @ ${p.backend} (${p.locality})…` : 'routing…' });
          })
          .catch(() => undefined);
        try {
          return await this.lsp.execute<ReviewResult | ExplainResult>(`localroute.${task}`, { uri, range }, token);
        } catch (err) {
          const code = errorCode(err);
          if (token.isCancellationRequested || code === REQUEST_CANCELLED) {
            this.lsp.output.info(`${title}: cancelled`);
            vscode.window.setStatusBarMessage(`localroute: ${title.toLowerCase()} cancelled`, 5000);
          } else if (code === REQUEST_FAILED) {
            // Refused or failed: the server has shown the reason with window/showMessage.
            this.lsp.output.warn(`${title}: ${errorText(err)}`);
          } else {
            this.lsp.output.error(`${title}: ${errorText(err)}`);
            void vscode.window.showErrorMessage(`localroute: ${title.toLowerCase()} failed: ${errorText(err)}`);
          }
          return undefined;
        }
      },
    );
    void this.status.refresh();
    if (result === undefined) {
      return undefined;
    }
    if (task === 'review') {
      const review = result as ReviewResult;
      this.lsp.output.info(`${title}: ${reviewMessage(review)}`);
      void vscode.window.showInformationMessage(reviewMessage(review), 'Show Problems').then((choice) => {
        if (choice === 'Show Problems') {
          void vscode.commands.executeCommand('workbench.actions.view.problems');
        }
      });
    } else {
      const explain = result as ExplainResult;
      this.lsp.output.info(`${title}: explained by ${explain.model} @ ${explain.backend} (${explain.locality})`);
      await this.showExplanation(editor, scope);
    }
    return result;
  }

  /**
   * Show the explanation at once, as the hover the server now answers inside the range:
   * it stays attached to those lines (and moves with edits), and hovering there later
   * shows it again.
   */
  private async showExplanation(editor: vscode.TextEditor, scope: Scope): Promise<void> {
    const shown = await vscode.window.showTextDocument(editor.document, {
      viewColumn: editor.viewColumn,
      preserveFocus: false,
    });
    if (scope === 'selection') {
      // The hover opens at the cursor: keep the selection, with the cursor at its start,
      // which is inside the explained lines (its end may be column 0 of the next line).
      const sel = shown.selection;
      if (!sel.isEmpty && !sel.active.isEqual(sel.start)) {
        shown.selection = new vscode.Selection(sel.end, sel.start);
      }
      shown.revealRange(shown.selection, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    }
    await vscode.commands.executeCommand('editor.action.showHover');
  }

  /** Backends (probed now), the active file's route, and shortcuts. */
  async showStatus(): Promise<void> {
    if (this.lsp.running === undefined) {
      const choice = await vscode.window.showWarningMessage(
        `localroute: the language server is not running (${this.lsp.notRunning ?? 'stopped'}).`,
        'Restart',
        'Show Log',
      );
      if (choice === 'Restart') {
        await this.lsp.restart();
      } else if (choice === 'Show Log') {
        this.lsp.output.show();
      }
      return;
    }
    type Item = vscode.QuickPickItem & { action?: () => Promise<void> | void };
    const status = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'localroute: probing backends' },
      () => this.lsp.execute<StatusResult>('localroute.status', {}),
    );
    await this.status.refresh();
    const items: Item[] = [];
    const last = this.status.last;
    if (last !== undefined) {
      items.push({ label: 'Active file', kind: vscode.QuickPickItemKind.Separator });
      const reasons = last.route?.reasons ?? [];
      items.push({
        label: last.view.text,
        description: vscode.workspace.asRelativePath(vscode.Uri.parse(last.uri)),
        detail: [last.view.detail, ...reasons].join(' · '),
      });
    }
    items.push({ label: 'Backends', kind: vscode.QuickPickItemKind.Separator });
    for (const backend of status.backends) {
      const line = backendLine(backend);
      items.push({ ...line, action: this.backendAction(backend) });
    }
    if (status.tasks) {
      items.push({ label: 'Routes', kind: vscode.QuickPickItemKind.Separator });
      for (const [name, task] of Object.entries(status.tasks)) {
        items.push({ label: name, description: (task.route ?? []).join(' → ') });
      }
    }
    items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
    items.push({
      label: '$(gear) Open the user config file',
      description: userConfigPath(),
      action: () => this.openUserConfig(),
    });
    items.push({ label: '$(output) Show the log', action: () => this.lsp.output.show() });
    items.push({ label: '$(debug-restart) Restart the server', action: () => this.lsp.restart() });
    const picked = await vscode.window.showQuickPick(items, {
      title: 'localroute status',
      placeHolder: 'Backends and routes (pick a backend that is down to start it, if it has a start_command)',
      matchOnDescription: true,
    });
    await picked?.action?.();
  }

  private backendAction(backend: BackendStatus): (() => Promise<void>) | undefined {
    if (backend.up || !backend.start_command || backend.start_command.length === 0) {
      return undefined;
    }
    return async () => {
      try {
        await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `localroute: starting ${backend.name}`, cancellable: true },
          (_progress, token) => this.lsp.execute('localroute.startBackend', { backend: backend.name }, token),
        );
      } catch (err) {
        this.lsp.output.warn(`starting ${backend.name}: ${errorText(err)}`);
      }
      await this.status.refresh();
    };
  }

  private async openUserConfig(): Promise<void> {
    const file = vscode.Uri.file(userConfigPath());
    try {
      await vscode.workspace.fs.stat(file);
    } catch {
      const choice = await vscode.window.showInformationMessage(
        `localroute: ${file.fsPath} does not exist yet. Create it?`,
        'Create',
      );
      if (choice !== 'Create') {
        return;
      }
      const example =
        '# localroute user configuration: backends are defined here, not in editor settings.\n' +
        '[backends.local]\nkind = "openai"\nurl = "http://127.0.0.1:8080/v1"\n\n' +
        '[tasks.review]\nroute = ["local:coder"]\n[tasks.explain]\nroute = ["local:coder"]\n';
      await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(example));
    }
    await vscode.window.showTextDocument(file);
  }
}
