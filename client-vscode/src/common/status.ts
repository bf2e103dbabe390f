/**
 * What the language status item says for the active file: where its code would go now
 * (`local`, `private-network`, `cloud`, or `refused: private`) and whether the local
 * backend is up. Built from the server's `localroute.route` answer, which is computed
 * from cached availability and sends nothing.
 *
 * Pure: no runtime import of `vscode`.
 */

export interface RoutePrediction {
  backend: string;
  model: string;
  locality: string;
}

export interface RouteCandidate {
  backend: string;
  model: string;
  locality: string;
  /** `up`, `down` or `unknown` (from the server's health cache) */
  state?: string;
}

/** The result of `localroute.route {uri, task}` (the fields used here). */
export interface RouteResult {
  task?: string;
  summary?: string;
  private?: boolean;
  reasons?: string[];
  predicted?: RoutePrediction | null;
  candidates?: RouteCandidate[];
  reason?: string;
}

export interface BackendStatus {
  name: string;
  kind: string;
  locality: string;
  up: boolean;
  latency_ms?: number | null;
  models?: string[];
  detail?: string | null;
  url?: string | null;
  start_command?: string[] | null;
}

/** The result of `localroute.status {}`. */
export interface StatusResult {
  backends: BackendStatus[];
  tasks?: Record<string, { route?: string[]; route_private?: string[] | null }>;
}

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
export function routeLabel(route: RouteResult): string {
  if (route.predicted) {
    return route.predicted.locality;
  }
  return route.private ? 'refused: private' : 'no backend available';
}

/** Whether the route's local backend(s) are up, from the route's own candidates. */
export function localBackendLabel(route: RouteResult): string | undefined {
  const locals = new Map<string, string>();
  for (const candidate of route.candidates ?? []) {
    if (candidate.locality === 'local' && !locals.has(candidate.backend)) {
      locals.set(candidate.backend, candidate.state ?? 'unknown');
    }
  }
  const state = (s: string): string => (s === 'up' ? 'up' : s === 'down' ? 'down' : 'not checked yet');
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
export function statusView(route: RouteResult): StatusView {
  const label = routeLabel(route);
  const parts: string[] = [];
  const task = route.task ?? 'review';
  if (route.predicted) {
    parts.push(`${task} → ${route.predicted.model} @ ${route.predicted.backend}`);
  }
  if (route.private && route.predicted) {
    parts.push('private'); // (refused already says so)
  }
  const local = localBackendLabel(route);
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
export function backendLine(backend: BackendStatus): { label: string; description: string; detail: string } {
  const latency =
    backend.up && typeof backend.latency_ms === 'number' ? `, ${Math.round(backend.latency_ms)} ms` : '';
  const models = backend.models && backend.models.length > 0 ? `models: ${backend.models.join(', ')}` : '';
  const where = backend.url ? backend.url : '';
  return {
    label: `${backend.up ? '$(pass-filled)' : '$(error)'} ${backend.name}`,
    description: `${backend.kind}, ${backend.locality}, ${backend.up ? 'up' : 'down'}${latency}`,
    detail: [where, models, backend.up ? '' : (backend.detail ?? '')].filter(Boolean).join(' · '),
  };
}

/** The message after a review: `1 finding from coder @ local (local)`. */
export function reviewMessage(result: {
  findings?: number;
  model?: string;
  backend?: string;
  locality?: string;
  cached?: boolean;
}): string {
  const n = result.findings ?? 0;
  const findings = n === 0 ? 'no findings' : n === 1 ? '1 finding' : `${n} findings`;
  const cached = result.cached ? ', from the cache' : '';
  return `localroute: ${findings} — ${result.model} @ ${result.backend} (${result.locality}${cached})`;
}
