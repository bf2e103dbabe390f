/**
 * Editor settings → the server's configuration shape, user level and workspace level apart.
 *
 * The server applies the trust rule (SPEC §2): what comes from the workspace
 * (`.vscode/settings.json`, a `.code-workspace` file) may only make privacy
 * stricter. So the two levels travel separately, as `{"user": {...}, "workspace": {...}}`,
 * and only values that are explicitly set are sent: a default never overrides the
 * user's config file.
 *
 * Pure: no runtime import of `vscode`, so `node --test` runs it.
 */

/** What `WorkspaceConfiguration.inspect()` returns, the parts used here. */
export interface Inspected {
  globalValue?: unknown;
  workspaceValue?: unknown;
}

/** `(key) => vscode.workspace.getConfiguration('localroute').inspect(key)` */
export type Inspect = (key: string) => Inspected | undefined;

/** One level in the TOML file's shape (as JSON), holding only what the editor may set. */
export interface LevelSettings {
  privacy?: {
    globs?: unknown;
    detect_secrets?: unknown;
    allow_private_network?: unknown;
  };
  tasks?: Record<string, { route: unknown }>;
}

export interface ServerSettings {
  user: LevelSettings;
  workspace: LevelSettings;
}

/** Settings forwarded to the server: VS Code key (under `localroute.`) → path in the TOML shape. */
export const FORWARDED: ReadonlyArray<readonly [string, readonly [string, string]]> = [
  ['privacy.globs', ['privacy', 'globs']],
  ['privacy.detectSecrets', ['privacy', 'detect_secrets']],
  ['privacy.allowPrivateNetwork', ['privacy', 'allow_private_network']],
];

/** The setting holding routes per task: `{"review": ["local:coder", ...]}`. */
export const ROUTES_KEY = 'routes';

/** Settings that change what the server is told (as opposed to how the extension runs it). */
export const SERVER_KEYS: readonly string[] = [...FORWARDED.map(([key]) => key), ROUTES_KEY];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function level(inspect: Inspect, pick: (i: Inspected) => unknown): LevelSettings {
  const out: LevelSettings = {};
  for (const [key, [section, field]] of FORWARDED) {
    const value = pick(inspect(key) ?? {});
    if (value === undefined || value === null) {
      continue;
    }
    const part = (out[section as 'privacy'] ??= {}) as Record<string, unknown>;
    part[field] = value;
  }
  const routes = pick(inspect(ROUTES_KEY) ?? {});
  if (isPlainObject(routes)) {
    for (const [task, route] of Object.entries(routes)) {
      // Sent as given: the server validates each entry and names what is wrong.
      (out.tasks ??= {})[task] = { route };
    }
  }
  return out;
}

/** The settings to send, built from `inspect()`: `globalValue` is user level,
 * `workspaceValue` is workspace level. */
export function serverSettings(inspect: Inspect): ServerSettings {
  return {
    user: level(inspect, (i) => i.globalValue),
    workspace: level(inspect, (i) => i.workspaceValue),
  };
}

/** The `workspace/didChangeConfiguration` params the server reads (`settings.localroute`). */
export function didChangeConfigurationParams(settings: ServerSettings): {
  settings: { localroute: ServerSettings };
} {
  return { settings: { localroute: settings } };
}

/** Answer to `workspace/configuration`: the split settings for each item of section
 * `localroute`; other items keep VS Code's own answer (`answered`). */
export function configurationAnswer(
  items: ReadonlyArray<{ section?: string }>,
  answered: readonly unknown[],
  settings: ServerSettings,
): unknown[] {
  return items.map((item, i) => (item.section === 'localroute' ? settings : (answered[i] ?? null)));
}

/** The setting that lets bulk review (folders, changed files) use cloud backends. */
export const BULK_ALLOW_CLOUD_KEY = 'bulk.allowCloud';

/**
 * Whether bulk review may use cloud backends: only the user's own (global) setting counts,
 * and only an explicit `true`. A workspace value is never read: a repository must not be
 * able to send all of its files to a cloud model.
 */
export function bulkAllowCloud(inspect: Inspect): boolean {
  return inspect(BULK_ALLOW_CLOUD_KEY)?.globalValue === true;
}
