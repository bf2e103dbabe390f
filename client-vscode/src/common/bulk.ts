/**
 * "localroute: Review Folder" (Explorer context menu) and "localroute: Review Changed Files"
 * (Source Control title), both through the server's `localroute.reviewFiles`: a cancellable
 * progress notification while it runs, findings in the Problems panel, a summary at the end.
 * Bulk review stays on local and private-network backends unless the user-level setting
 * `localroute.bulk.allowCloud` is on.
 */

import * as path from 'node:path';

import * as vscode from 'vscode';

import { errorText, isCancelled, isRequestFailed } from './api';
import { type ChangedPath, insideRoots, pathsToReview } from './changes';
import type { LocalrouteClient } from './client';
import { REVIEW_FILES, type ReviewFilesArgs, type ReviewFilesResult } from './contract';
import { bulkAllowCloud } from './settings';
import { bulkSummary } from './status';
import type { RouteStatusItem } from './statusItem';

/** The part of the Git extension's API used here (see changes.ts for why it is copied). */
interface GitChange {
  readonly uri: vscode.Uri;
  readonly renameUri: vscode.Uri | undefined;
  readonly status: number;
}
interface GitRepository {
  readonly rootUri: vscode.Uri;
  readonly state: {
    readonly indexChanges: readonly GitChange[];
    readonly workingTreeChanges: readonly GitChange[];
    readonly mergeChanges: readonly GitChange[];
    readonly untrackedChanges?: readonly GitChange[];
  };
  status(): Promise<void>;
}
interface GitApi {
  readonly state: 'uninitialized' | 'initialized';
  readonly onDidChangeState: vscode.Event<'uninitialized' | 'initialized'>;
  readonly repositories: readonly GitRepository[];
}
interface GitExtension {
  readonly enabled: boolean;
  getAPI(version: 1): GitApi;
}

const GIT_EXTENSION_ID = 'vscode.git';

async function gitApi(): Promise<GitApi> {
  const extension = vscode.extensions.getExtension<GitExtension>(GIT_EXTENSION_ID);
  if (extension === undefined) {
    throw new Error('the built-in Git extension is not available');
  }
  const exports = extension.isActive ? extension.exports : await extension.activate();
  if (!exports.enabled) {
    throw new Error('the Git extension is disabled (setting git.enabled)');
  }
  const api = exports.getAPI(1);
  if (api.state !== 'initialized') {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10000);
      const listener = api.onDidChangeState((state) => {
        if (state === 'initialized') {
          clearTimeout(timer);
          listener.dispose();
          resolve();
        }
      });
    });
  }
  return api;
}

function changedPaths(repository: GitRepository): ChangedPath[] {
  const state = repository.state;
  const all = [
    ...state.indexChanges,
    ...state.workingTreeChanges,
    ...state.mergeChanges,
    ...(state.untrackedChanges ?? []),
  ];
  return all.map((change) => ({
    path: change.uri.fsPath,
    renamedTo: change.renameUri?.fsPath,
    status: change.status,
  }));
}

/** The SCM title menu passes the source control it was opened on; keep only objects with a
 * root. */
function rootOf(argument: unknown): string | undefined {
  const root = (argument as { rootUri?: unknown } | undefined)?.rootUri;
  return root instanceof vscode.Uri ? root.fsPath : undefined;
}

export class BulkReview {
  constructor(
    private readonly lsp: LocalrouteClient,
    private readonly status: RouteStatusItem,
  ) {}

  register(): vscode.Disposable[] {
    return [
      vscode.commands.registerCommand('localroute.reviewFolder', (clicked?: vscode.Uri, selected?: vscode.Uri[]) =>
        this.reviewFolder(clicked, selected),
      ),
      vscode.commands.registerCommand('localroute.reviewChanged', (sourceControl?: unknown) =>
        this.reviewChanged(sourceControl),
      ),
    ];
  }

  /** The folders selected in the Explorer; from the palette, a folder picked in a dialog. */
  async reviewFolder(clicked?: vscode.Uri, selected?: vscode.Uri[]): Promise<ReviewFilesResult | undefined> {
    let folders = (selected && selected.length > 0 ? selected : clicked ? [clicked] : []).filter(
      (uri) => uri instanceof vscode.Uri,
    );
    if (folders.length === 0) {
      const picked = await vscode.window.showOpenDialog({
        canSelectFiles: false,
        canSelectFolders: true,
        canSelectMany: false,
        defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
        openLabel: 'Review',
        title: 'localroute: Review Folder',
      });
      if (picked === undefined || picked.length === 0) {
        return undefined;
      }
      folders = picked;
    }
    const what = folders.map((uri) => vscode.workspace.asRelativePath(uri, false)).join(', ');
    return this.run(`Review ${what}`, { uris: folders.map((uri) => uri.toString()) });
  }

  /** The files changed in the working tree and the index, from the Git extension. */
  async reviewChanged(sourceControl?: unknown): Promise<ReviewFilesResult | undefined> {
    let repositories: readonly GitRepository[];
    try {
      repositories = (await gitApi()).repositories;
    } catch (err) {
      void vscode.window.showErrorMessage(`localroute: cannot list the changed files: ${errorText(err)}`);
      return undefined;
    }
    const root = rootOf(sourceControl);
    if (root !== undefined) {
      repositories = repositories.filter((repository) => repository.rootUri.fsPath === root);
    }
    if (repositories.length === 0) {
      void vscode.window.showInformationMessage('localroute: no Git repository is open in this window.');
      return undefined;
    }
    // The Git view may lag a save by a moment: ask each repository for a fresh status.
    await Promise.all(repositories.map((repository) => repository.status().catch(() => undefined)));
    const paths = pathsToReview(repositories.flatMap(changedPaths));
    const roots = (vscode.workspace.workspaceFolders ?? []).map((folder) => folder.uri.fsPath);
    const { inside, outside } = insideRoots(paths, roots, path.sep);
    if (outside.length > 0) {
      this.lsp.output.info(
        `Review Changed Files: ${outside.length} changed file(s) outside the workspace left out: ${outside.slice(0, 5).join(', ')}`,
      );
    }
    if (inside.length === 0) {
      void vscode.window.showInformationMessage('localroute: no changed files to review (deleted files are skipped).');
      return undefined;
    }
    const n = inside.length;
    return this.run(`Review ${n} changed file${n === 1 ? '' : 's'}`, {
      uris: inside.map((p) => vscode.Uri.file(p).toString()),
    });
  }

  private async run(title: string, argument: ReviewFilesArgs): Promise<ReviewFilesResult | undefined> {
    if (this.lsp.running === undefined) {
      void vscode.window.showErrorMessage(
        `localroute: the language server is not running (${this.lsp.notRunning ?? 'stopped'}).`,
      );
      return undefined;
    }
    const config = vscode.workspace.getConfiguration('localroute');
    const allowCloud = bulkAllowCloud((key) => config.inspect(key));
    const full: ReviewFilesArgs = { ...argument, allowCloud };
    this.lsp.output.info(`${title}: ${JSON.stringify(full)}`);
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `localroute: ${title}`, cancellable: true },
      async (progress, token) => {
        progress.report({
          message: allowCloud ? 'local first; cloud allowed (localroute.bulk.allowCloud)' : 'local and private-network backends only',
        });
        try {
          return await this.lsp.execute(REVIEW_FILES, full, token);
        } catch (err) {
          if (token.isCancellationRequested || isCancelled(err)) {
            this.lsp.output.info(`${title}: cancelled`);
            vscode.window.setStatusBarMessage(`localroute: ${title} cancelled`, 5000);
          } else if (isRequestFailed(err)) {
            this.lsp.output.warn(`${title}: ${errorText(err)}`);
          } else {
            this.lsp.output.error(`${title}: ${errorText(err)}`);
            void vscode.window.showErrorMessage(`localroute: ${title} failed: ${errorText(err)}`);
          }
          return undefined;
        }
      },
    );
    void this.status.refresh();
    if (result !== undefined) {
      const summary = bulkSummary(result);
      this.lsp.output.info(`${title}: ${summary}`);
      void vscode.window.showInformationMessage(`localroute: ${summary}`, 'Show Problems').then((choice) => {
        if (choice === 'Show Problems') {
          void vscode.commands.executeCommand('workbench.actions.view.problems');
        }
      });
    }
    return result;
  }
}
