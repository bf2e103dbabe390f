/**
 * What the language status item says for the active file: where its code would go now
 * (`local`, `private-network`, `cloud`, or `refused: private`) and whether the local
 * backend is up. Built from the server's `localroute.route` answer, which is computed
 * from cached availability and sends nothing.
 *
 * Pure: no runtime import of `vscode`.
 */

import type { BackendStatus, ReviewFilesResult, RouteCandidate, RouteResult } from './contract';

/** A route answer, or the part of one that is known (every field may be missing). */
export type RouteView = Partial<Omit<RouteResult, 'candidates'>> & {
  candidates?: ReadonlyArray<Pick<RouteCandidate, 'backend' | 'locality'> & Partial<RouteCandidate>>;
};

/** A backend of `localroute.status`, with only the fields the picker needs. */
export type BackendView = Pick<BackendStatus, 'name' | 'kind' | 'locality' | 'up'> &
  Partial<Omit<BackendStatus, 'name' | 'kind' | 'locality' | 'up'>>;

/** Service states the server knows from start/stop commands (`starting`, `stopped`), by
 * backend name, from the last `localroute.status`. */
export type ServiceStates = Readonly<Record<string, string>>;

export type Severity = 'information' | 'warning' | 'error';

export interface StatusView {
  text: string;
  detail: string;
  severity: Severity;
}

const ICONS: Record<string, string> = {
  local: '$(home)',
  'private-network': '$(server)',
  cloud: '$(cloud)',
};

/** `local`, `private-network`, `cloud`, `refused: private`, or `no backend available`. */
export function routeLabel(route: RouteView): string {
  if (route.predicted) {
    return route.predicted.locality;
  }
  return route.private ? 'refused: private' : 'no backend available';
}

/** Whether the route's local backend(s) are up, from the route's own candidates; a backend
 * that is down because localroute stopped it (or is starting it) says so. */
export function localBackendLabel(route: RouteView, services: ServiceStates = {}): string | undefined {
  const locals = new Map<string, string>();
  for (const candidate of route.candidates ?? []) {
    if (candidate.locality === 'local' && !locals.has(candidate.backend)) {
      const service = services[candidate.backend];
      const known = candidate.state ?? 'unknown';
      locals.set(
        candidate.backend,
        known !== 'up' && (service === 'stopped' || service === 'starting') ? service : known,
      );
    }
  }
  const state = (s: string): string =>
    s === 'up' || s === 'down' || s === 'stopped' || s === 'starting' ? s : 'not checked yet';
  if (locals.size === 0) {
    return undefined;
  }
  if (locals.size === 1) {
    const [[name, s]] = [...locals];
    return name === 'local' ? `local backend ${state(s)}` : `local backend ${name} ${state(s)}`;
  }
  return `local backends: ${[...locals].map(([name, s]) => `${name} ${state(s)}`).join(', ')}`;
}

/** The item for a route answer. Short: the hover it shows in is narrow; the reasons are in
 * the status picker (the item's command). */
export function statusView(route: RouteView, services: ServiceStates = {}): StatusView {
  const label = routeLabel(route);
  const parts: string[] = [];
  const task = route.task ?? 'review';
  if (route.predicted) {
    parts.push(`${task} → ${route.predicted.model} @ ${route.predicted.backend}`);
  }
  if (route.private && route.predicted) {
    parts.push('private'); // (refused already says so)
  }
  const local = localBackendLabel(route, services);
  if (local) {
    parts.push(local);
  }
  if (!route.predicted && !route.private && !local) {
    parts.push('no backend of the route is up');
  }
  const icon = route.predicted
    ? (ICONS[route.predicted.locality] ?? '$(question)')
    : route.private
      ? '$(lock)'
      : '$(circle-slash)';
  return {
    text: `${icon} ${label}`,
    detail: parts.join(' · '),
    severity: route.predicted ? 'information' : 'warning',
  };
}

/** The item when the server is not running, or the file cannot be routed. */
export function unavailableView(why: string): StatusView {
  return { text: '$(warning) localroute not running', detail: why, severity: 'error' };
}

/** One line per backend for the status picker. */
export function backendLine(backend: BackendView): { label: string; description: string; detail: string } {
  const latency =
    backend.up && typeof backend.latency_ms === 'number' ? `, ${Math.round(backend.latency_ms)} ms` : '';
  const models = backend.models && backend.models.length > 0 ? `models: ${backend.models.join(', ')}` : '';
  const where = backend.url ? backend.url : backend.executable ? [backend.executable, backend.version].filter(Boolean).join(' ') : '';
  const state = backendState(backend);
  const icon = state === 'up' ? '$(pass-filled)' : state === 'starting' ? '$(loading~spin)' : state === 'stopped' ? '$(debug-stop)' : '$(error)';
  return {
    label: `${icon} ${backend.name}`,
    description: `${backend.kind}, ${backend.locality}, ${state}${latency}`,
    detail: [where, models, backend.up ? '' : (backend.detail ?? '')].filter(Boolean).join(' · '),
  };
}

/** `up`, `down`, `starting` or `stopped` (older servers send only `up`). */
export function backendState(backend: Pick<BackendView, 'up' | 'state'>): string {
  if (typeof backend.state === 'string' && backend.state !== '') {
    return backend.state;
  }
  return backend.up ? 'up' : 'down';
}

/** Backends that can be started (`start`) or stopped (`stop`) from the editor: those with
 * that command in the user's configuration. */
export function controllable<B extends BackendView>(backends: readonly B[], action: 'start' | 'stop'): B[] {
  return backends.filter((backend) => {
    const argv = action === 'start' ? backend.start_command : backend.stop_command;
    return Array.isArray(argv) && argv.length > 0;
  });
}

/** The states by name, for the status item. */
export function serviceStates(backends: readonly BackendView[]): Record<string, string> {
  return Object.fromEntries(backends.map((backend) => [backend.name, backendState(backend)]));
}

/** After a bulk review: `reviewed 3 of 3 files: 2 findings (local ×3)`, and what was not. */
export function bulkSummary(result: ReviewFilesResult): string {
  const reviewed = result.done - result.refused - result.not_reviewed;
  const findings = result.findings === 1 ? '1 finding' : `${result.findings} findings`;
  const used = Object.entries(result.backends)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ×${n}`)
    .join(', ');
  const parts = [`reviewed ${reviewed} of ${result.files} file${result.files === 1 ? '' : 's'}: ${findings}${used ? ` (${used})` : ''}`];
  if (result.refused > 0) {
    parts.push(`${result.refused} refused (private, no local backend)`);
  }
  if (result.not_reviewed > 0) {
    parts.push(`${result.not_reviewed} not reviewed (see the log)`);
  }
  if (result.done < result.files) {
    parts.push(`${result.files - result.done} not reached`);
  }
  return parts.join('; ');
}

/** The message after a review: `1 finding from coder @ local (local)`. */
export function reviewMessage(result: {
  findings?: number;
  model?: string;
  backend?: string;
  locality?: string;
  cached?: boolean;
  consented?: boolean;
}): string {
  const n = result.findings ?? 0;
  const findings = n === 0 ? 'no findings' : n === 1 ? '1 finding' : `${n} findings`;
  const cached = result.cached ? ', from the cache' : '';
  const consented = result.consented ? ', sent with your consent' : '';
  return `localroute: ${findings} — ${result.model} @ ${result.backend} (${result.locality}${cached}${consented})`;
}
