/** The language client: finds the server, starts it, forwards settings, restarts. */

import * as path from 'node:path';

import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  RevealOutputChannelOn,
  type ServerOptions,
  State,
} from 'vscode-languageclient/node';

import { type ArgsOf, errorText, isRequestFailed, type ResultOf } from './api';
import { type BundleDeps, installBundle, locateBundle, serveArgv } from './bundled';
import { withConsentPrompt } from './consent';
import { type CommandName, EXPLAIN, REVIEW, START_BACKEND, STOP_BACKEND, type TaskArgs } from './contract';
import { pythonHasLocalroute, runProgram, which } from './exec';
import { onInterpreterChange, pythonExtensionInstalled, selectedInterpreter } from './python';
import { describe, type Discovery, findServer } from './server';
import { configurationAnswer, didChangeConfigurationParams, SERVER_KEYS, serverSettings, type ServerSettings } from './settings';

/** What the client needs from the extension context. */
export interface ExtensionPlace {
  /** The extension's folder (holds `bundled/`). */
  extensionPath: string;
  /** Where the extension may keep files (the bundled server's environment). */
  globalStorage: string;
}

export const CLIENT_ID = 'localroute';

export function currentSettings(): ServerSettings {
  const config = vscode.workspace.getConfiguration('localroute');
  return serverSettings((key) => config.inspect(key));
}

function workspaceCwd(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

/** Interpreters that may make the bundled server's environment: the Python extension's
 * (trusted workspaces only: it may be the repository's own `.venv`), then python3 and python
 * from PATH. */
async function bundleInterpreters(): Promise<string[]> {
  const found: string[] = [];
  if (vscode.workspace.isTrusted && pythonExtensionInstalled()) {
    const selected = await selectedInterpreter().catch(() => undefined);
    if (selected !== undefined) {
      found.push(selected);
    }
  }
  for (const name of ['python3', 'python']) {
    // PATH only, never relative to the workspace
    const onPath = await which(name, process.env);
    if (onPath !== undefined) {
      found.push(onPath);
    }
  }
  return [...new Set(found)];
}

export function bundleDeps(place: ExtensionPlace, output: vscode.LogOutputChannel): BundleDeps {
  return {
    bundleDir: path.join(place.extensionPath, 'bundled'),
    storageDir: place.globalStorage,
    interpreters: bundleInterpreters,
    run: (argv, timeoutMs) => runProgram(argv, timeoutMs),
    log: (line) => output.info(line),
  };
}

/** The bundled server's argv, installing it first (with a progress notification) if needed. */
async function bundledServer(
  place: ExtensionPlace,
  output: vscode.LogOutputChannel,
): Promise<{ argv: string[] } | { absent: true } | { error: string }> {
  const deps = bundleDeps(place, output);
  const bundle = await locateBundle(deps);
  if (bundle === undefined) {
    return { absent: true };
  }
  if (bundle.ready) {
    return { argv: serveArgv(bundle) };
  }
  output.info(`installing the bundled server ${path.basename(bundle.wheel)} into ${bundle.venv}`);
  try {
    const installed = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: 'localroute: installing its language server (first start)',
      },
      (progress) => installBundle(deps, bundle, (step) => progress.report({ message: step })),
    );
    return { argv: serveArgv(installed) };
  } catch (err) {
    output.error(`the bundled server was not installed: ${errorText(err)}`);
    return { error: errorText(err) };
  }
}

export async function discover(place: ExtensionPlace, output: vscode.LogOutputChannel): Promise<Discovery> {
  const config = vscode.workspace.getConfiguration('localroute');
  return findServer({
    settingArgv: config.get<string[]>('server.path'),
    trusted: vscode.workspace.isTrusted,
    pythonExtensionInstalled: pythonExtensionInstalled(),
    pythonInterpreter: selectedInterpreter,
    pythonHasLocalroute: (python) => pythonHasLocalroute(python),
    which: (program) => which(program, process.env, workspaceCwd()),
    bundled: () => bundledServer(place, output),
  });
}

/** A task command from a code action (the light bulb): the same consent prompt as the
 * palette's commands. */
function isTaskCommand(command: string): command is typeof REVIEW | typeof EXPLAIN {
  return command === REVIEW || command === EXPLAIN;
}

/** Owns one LanguageClient at a time; `restart()` finds the server again. */
export class LocalrouteClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<void> | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private interpreterListener: vscode.Disposable | undefined;
  private readonly stateEmitter = new vscode.EventEmitter<void>();
  /** Fires when the server starts or stops. */
  readonly onDidChangeState = this.stateEmitter.event;
  private readonly backendsEmitter = new vscode.EventEmitter<void>();
  /** Fires after a backend was started or stopped from a code action. */
  readonly onDidControlBackend = this.backendsEmitter.event;
  /** Why the server is not running, when it is not. */
  notRunning: string | undefined = 'starting';

  constructor(
    readonly output: vscode.LogOutputChannel,
    private readonly place: ExtensionPlace,
  ) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((event) => this.configurationChanged(event)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.output.info('Workspace trusted: finding the server again.');
        void this.restart();
      }),
      this.stateEmitter,
      this.backendsEmitter,
    );
  }

  get running(): LanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  /** Run one of the server's commands (`localroute.review`, …) with its one object argument. */
  async execute<C extends CommandName>(
    command: C,
    argument: ArgsOf<C>,
    token?: vscode.CancellationToken,
  ): Promise<ResultOf<C>> {
    const client = this.running;
    if (client === undefined) {
      throw new Error(`the language server is not running (${this.notRunning ?? 'stopped'})`);
    }
    return (await client.sendRequest(
      ExecuteCommandRequest.type,
      { command, arguments: [argument] },
      token,
    )) as ResultOf<C>;
  }

  start(): Promise<void> {
    this.starting ??= this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const discovery = await discover(this.place, this.output);
    for (const note of discovery.notes) {
      this.output.info(`server discovery: ${note}`);
    }
    for (const warning of discovery.warnings) {
      void vscode.window.showWarningMessage(warning);
    }
    if (discovery.command === undefined) {
      this.notRunning = 'server not found';
      this.output.error(discovery.error ?? 'no server');
      this.stateEmitter.fire();
      void vscode.window
        .showErrorMessage(discovery.error ?? 'localroute: no server', 'Open Settings', 'Show Log')
        .then((choice) => {
          if (choice === 'Open Settings') {
            void vscode.commands.executeCommand('workbench.action.openSettings', 'localroute.server.path');
          } else if (choice === 'Show Log') {
            this.output.show();
          }
        });
      return;
    }
    const command = discovery.command;
    this.output.info(`starting the server: ${describe(command)}`);
    this.output.info(`settings sent to the server: ${JSON.stringify(currentSettings())}`);
    const [program, ...args] = command.argv;
    const serverOptions: ServerOptions = {
      command: program,
      args,
      // No `transport`: TransportKind.stdio would append `--stdio` to the command line.
      options: { cwd: workspaceCwd(), env: { ...process.env } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.output,
      // The server says what went wrong with window/showMessage; no second notification.
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      diagnosticCollectionName: 'localroute',
      // A function: every (re)start sends the settings of that moment. This client waits for
      // each command's answer (with progress and Cancel), and needs a refusal's error to
      // offer consent: results are never to be delivered later.
      initializationOptions: () => ({ ...currentSettings(), deliverResultsLater: false }),
      middleware: {
        executeCommand: async (command, args, next) => {
          if (command === START_BACKEND || command === STOP_BACKEND) {
            // "Start/Stop local models (NAME)" from the light bulb: the status item follows
            try {
              return await next(command, args);
            } finally {
              this.backendsEmitter.fire();
            }
          }
          const argument: unknown = args[0];
          if (!isTaskCommand(command) || args.length !== 1 || typeof argument !== 'object' || argument === null) {
            return next(command, args);
          }
          const task = command === REVIEW ? 'review' : 'explain';
          try {
            return await withConsentPrompt(task, argument as TaskArgs, (arg) => Promise.resolve(next(command, [arg])), this.output);
          } catch (err) {
            if (isRequestFailed(err)) {
              // refused or failed: the server has said why (window/showMessage)
              this.output.warn(`${command}: ${errorText(err)}`);
              return undefined;
            }
            throw err;
          }
        },
        workspace: {
          configuration: async (params, token, next) => {
            const answered = await next(params, token);
            if (!Array.isArray(answered)) {
              return answered;
            }
            return configurationAnswer(params.items, answered, currentSettings()) as typeof answered;
          },
        },
      },
    };
    const client = new LanguageClient(CLIENT_ID, 'localroute', serverOptions, clientOptions);
    client.onDidChangeState((event) => {
      this.notRunning = event.newState === State.Running ? undefined : State[event.newState].toLowerCase();
      this.stateEmitter.fire();
    });
    this.client = client;
    try {
      await client.start();
      this.notRunning = undefined;
    } catch (err) {
      this.notRunning = `failed to start: ${String(err)}`;
      this.output.error(`the server did not start: ${String(err)}`);
      void vscode.window.showErrorMessage(
        `localroute: the language server (${command.argv.join(' ')}) did not start: ${String(err)}`,
      );
    }
    this.stateEmitter.fire();
    if (command.source === 'python') {
      this.interpreterListener?.dispose();
      this.interpreterListener = await onInterpreterChange(() => {
        this.output.info('The Python interpreter changed: restarting the server.');
        void this.restart();
      });
    }
  }

  async stop(): Promise<void> {
    await this.starting;
    const client = this.client;
    this.client = undefined;
    this.notRunning = 'stopped';
    if (client !== undefined) {
      try {
        await client.stop(5000);
      } catch (err) {
        this.output.warn(`stopping the server: ${String(err)}`);
      }
      await client.dispose().catch(() => undefined);
    }
    this.stateEmitter.fire();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Tell the server about changed settings; run it again when its command line changed. */
  private configurationChanged(event: vscode.ConfigurationChangeEvent): void {
    if (event.affectsConfiguration('localroute.server.path')) {
      this.output.info('localroute.server.path changed: restarting the server.');
      void this.restart();
      return;
    }
    if (SERVER_KEYS.some((key) => event.affectsConfiguration(`localroute.${key}`))) {
      const client = this.running;
      if (client !== undefined) {
        this.output.info(`settings changed, sent to the server: ${JSON.stringify(currentSettings())}`);
        void client.sendNotification(
          DidChangeConfigurationNotification.type,
          didChangeConfigurationParams(currentSettings()),
        );
      }
    }
  }

  dispose(): void {
    this.interpreterListener?.dispose();
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}
