/** The language status item: the active file's route now, and whether the local backend is up. */

import * as vscode from 'vscode';

import type { LocalrouteClient } from './client';
import { type BackendStatus, ROUTE, type RouteResult, STATUS } from './contract';
import { serviceStates, type StatusView, statusView, unavailableView } from './status';

const SEVERITY: Record<StatusView['severity'], vscode.LanguageStatusSeverity> = {
  information: vscode.LanguageStatusSeverity.Information,
  warning: vscode.LanguageStatusSeverity.Warning,
  error: vscode.LanguageStatusSeverity.Error,
};

export class RouteStatusItem implements vscode.Disposable {
  private readonly item: vscode.LanguageStatusItem;
  private readonly disposables: vscode.Disposable[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private generation = 0;
  /** The last answer shown, for tests and the status picker. */
  last: { uri: string; route?: RouteResult; view: StatusView } | undefined;
  /** Backend states from the last `localroute.status` (`stopped`, `starting`, …): the route
   * answer says only up or down. */
  private states: Record<string, string> = {};

  constructor(private readonly lsp: LocalrouteClient) {
    this.item = vscode.languages.createLanguageStatusItem('localroute.route', [
      { scheme: 'file' },
      { scheme: 'untitled' },
    ]);
    this.item.name = 'localroute';
    this.item.command = { title: 'Status', command: 'localroute.showStatus' };
    this.show(unavailableView('starting'));
    this.disposables.push(
      this.item,
      vscode.window.onDidChangeActiveTextEditor(() => void this.refresh()),
      vscode.workspace.onDidSaveTextDocument((doc) => {
        if (doc === vscode.window.activeTextEditor?.document) {
          void this.refresh();
        }
      }),
      lsp.onDidChangeState(() => void this.refresh()),
      lsp.onDidControlBackend(() => void this.refreshServices()),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('localroute.status.refreshSeconds')) {
          this.schedule();
        }
        if (event.affectsConfiguration('localroute')) {
          // the server reloads its configuration first
          setTimeout(() => void this.refresh(), 500);
        }
      }),
    );
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    const seconds = vscode.workspace.getConfiguration('localroute').get<number>('status.refreshSeconds', 30);
    if (seconds > 0) {
      this.timer = setInterval(() => {
        if (vscode.window.state.focused) {
          void this.refresh();
        }
      }, seconds * 1000);
    }
  }

  private show(view: StatusView): void {
    this.item.text = view.text;
    this.item.detail = view.detail;
    this.item.severity = SEVERITY[view.severity];
    this.item.accessibilityInformation = { label: `localroute: ${view.text.replace(/\$\([^)]*\)\s*/g, '')}. ${view.detail}` };
  }

  /** Remember the backends' states from a `localroute.status` answer. */
  services(backends: readonly BackendStatus[]): void {
    this.states = serviceStates(backends);
  }

  /** Ask the server for every backend's state (it probes them), then refresh. */
  async refreshServices(): Promise<void> {
    const status = await this.lsp.execute(STATUS, {}).catch(() => undefined);
    if (status !== undefined) {
      this.services(status.backends);
    }
    await this.refresh();
  }

  /** Ask the server where the active file's code would go now (nothing is sent). */
  async refresh(): Promise<void> {
    const generation = ++this.generation;
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined) {
      return;
    }
    const uri = editor.document.uri.toString();
    if (this.lsp.running === undefined) {
      const view = unavailableView(this.lsp.notRunning ?? 'stopped');
      this.last = { uri, view };
      this.show(view);
      return;
    }
    this.item.busy = true;
    try {
      const route = await this.lsp.execute(ROUTE, { uri, task: 'review' });
      if (generation === this.generation) {
        const view = statusView(route, this.states);
        this.last = { uri, route, view };
        this.show(view);
      }
    } catch (err) {
      if (generation === this.generation) {
        const view = unavailableView(`cannot route this file: ${err instanceof Error ? err.message : String(err)}`);
        view.text = '$(warning) localroute';
        view.severity = 'warning';
        this.last = { uri, view };
        this.show(view);
      }
    } finally {
      if (generation === this.generation) {
        this.item.busy = false;
      }
    }
  }

  dispose(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
    }
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}
