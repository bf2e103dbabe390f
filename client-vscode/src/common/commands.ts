/** The palette and context-menu commands. */

import * as os from 'node:os';
import * as path from 'node:path';

import * as vscode from 'vscode';

import { errorText, isAccepted, isCancelled, isRequestFailed } from './api';
import type { LocalrouteClient } from './client';
import { withConsentPrompt } from './consent';
import {
  type Accepted,
  type BackendResult,
  type BackendStatus,
  EXPLAIN,
  type ExplainResult,
  REVIEW,
  type ReviewResult,
  ROUTE,
  START_BACKEND,
  STATUS,
  STOP_BACKEND,
  type TaskArgs,
} from './contract';
import { backendLine, backendState, controllable, reviewMessage } from './status';
import type { RouteStatusItem } from './statusItem';

type Task = 'review' | 'explain';
type Scope = 'selection' | 'file';

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
      vscode.commands.registerCommand('localroute.startLocalModels', (backend?: string) =>
        this.controlBackend('start', typeof backend === 'string' ? backend : undefined),
      ),
      vscode.commands.registerCommand('localroute.stopLocalModels', (backend?: string) =>
        this.controlBackend('stop', typeof backend === 'string' ? backend : undefined),
      ),
    ];
  }

  /** Review or explain the selection or the file, with a cancellable progress notification. */
  async run(task: Task, scope: Scope): Promise<ReviewResult | ExplainResult | Accepted | undefined> {
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
    const argument: TaskArgs = { uri, range };
    const title = `${task === 'review' ? 'Review' : 'Explain'} ${scope}`;

    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `localroute: ${title}`, cancellable: true },
      async (progress, token) => {
        // Where it will go, from cached availability (nothing is sent); the server's own
        // progress in the status bar names the backend it is asking.
        void this.lsp
          .execute(ROUTE, { uri, task })
          .then((route) => {
            const p = route.predicted;
            progress.report({ message: p ? `asking ${p.model} @ ${p.backend} (${p.locality})…` : 'routing…' });
          })
          .catch(() => undefined);
        try {
          // A privacy refusal that offers consent asks the user (a modal) before anything
          // more is sent; see consent.ts.
          return await withConsentPrompt<ReviewResult | ExplainResult | Accepted>(
            task,
            argument,
            (arg) => (task === 'review' ? this.lsp.execute(REVIEW, arg, token) : this.lsp.execute(EXPLAIN, arg, token)),
            this.lsp.output,
          );
        } catch (err) {
          if (token.isCancellationRequested || isCancelled(err)) {
            this.lsp.output.info(`${title}: cancelled`);
            vscode.window.setStatusBarMessage(`localroute: ${title.toLowerCase()} cancelled`, 5000);
          } else if (isRequestFailed(err)) {
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
    if (isAccepted(result)) {
      this.lsp.output.info(`${title}: accepted; the result will arrive as ${result.delivery}`);
      return result;
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
      () => this.lsp.execute(STATUS, {}),
    );
    this.status.services(status.backends);
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
    if (controllable(status.backends, 'start').length > 0) {
      items.push({ label: '$(play) Start local models', action: async () => void (await this.controlBackend('start')) });
    }
    if (controllable(status.backends, 'stop').length > 0) {
      items.push({ label: '$(debug-stop) Stop local models', action: async () => void (await this.controlBackend('stop')) });
    }
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
      await this.controlBackend('start', backend.name);
    };
  }

  /**
   * "Start Local Models" / "Stop Local Models": runs a backend's `start_command` or
   * `stop_command` through the server. With no name given, the backends that have that
   * command are listed; with one, it is used; with several, the user picks.
   */
  async controlBackend(action: 'start' | 'stop', name?: string): Promise<BackendResult | undefined> {
    if (this.lsp.running === undefined) {
      void vscode.window.showErrorMessage(
        `localroute: the language server is not running (${this.lsp.notRunning ?? 'stopped'}).`,
      );
      return undefined;
    }
    let backend = name;
    if (backend === undefined) {
      const status = await this.lsp.execute(STATUS, {});
      this.status.services(status.backends);
      const candidates = controllable(status.backends, action);
      const key = action === 'start' ? 'start_command' : 'stop_command';
      if (candidates.length === 0) {
        void vscode.window.showInformationMessage(
          `localroute: no backend has a ${key}. Add one to a backend in your user config file ` +
            '(e.g. `' + key + ' = ["systemctl", "--user", "' + action + '", "llama-swap"]`).',
        );
        return undefined;
      }
      if (candidates.length === 1) {
        backend = candidates[0].name;
      } else {
        const picked = await vscode.window.showQuickPick(
          candidates.map((b) => ({
            label: b.name,
            description: `${b.locality}, ${backendState(b)}`,
            detail: (action === 'start' ? b.start_command : b.stop_command)?.join(' '),
          })),
          { title: `localroute: ${action === 'start' ? 'Start' : 'Stop'} Local Models`, placeHolder: 'Which backend?' },
        );
        if (picked === undefined) {
          return undefined;
        }
        backend = picked.label;
      }
    }
    const verb = action === 'start' ? 'starting' : 'stopping';
    let result: BackendResult | undefined;
    try {
      result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `localroute: ${verb} ${backend}`, cancellable: action === 'start' },
        (_progress, token) =>
          this.lsp.execute(action === 'start' ? START_BACKEND : STOP_BACKEND, { backend }, token),
      );
      this.lsp.output.info(`${verb} ${backend}: ${result.detail}`);
    } catch (err) {
      // The server has shown why (window/showMessage).
      this.lsp.output.warn(`${verb} ${backend}: ${errorText(err)}`);
    }
    await this.status.refreshServices();
    return result;
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
