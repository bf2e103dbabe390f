import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  type BackendView,
  backendLine,
  backendState,
  bulkSummary,
  controllable,
  localBackendLabel,
  reviewMessage,
  routeLabel,
  type RouteView,
  serviceStates,
  statusView,
} from '../src/common/status';

const localUp = { backend: 'local', model: 'coder', locality: 'local', state: 'up' } as const;
const cloud = { backend: 'cloud', model: 'gpt', locality: 'cloud', state: 'up' } as const;

test('a route to the local backend', () => {
  const route: RouteView = {
    task: 'review',
    private: false,
    predicted: { backend: 'local', model: 'coder', locality: 'local' },
    candidates: [localUp, cloud],
  };
  assert.equal(routeLabel(route), 'local');
  const view = statusView(route);
  assert.equal(view.text, '$(home) local');
  assert.equal(view.detail, 'review → coder @ local · local backend up');
  assert.equal(view.severity, 'information');
});

test('the local backend down: the code would go to the cloud, and the item says so', () => {
  const route: RouteView = {
    task: 'review',
    private: false,
    predicted: { backend: 'cloud', model: 'gpt', locality: 'cloud' },
    candidates: [{ ...localUp, state: 'down' }, cloud],
  };
  const view = statusView(route);
  assert.equal(view.text, '$(cloud) cloud');
  assert.match(view.detail, /review → gpt @ cloud/);
  assert.match(view.detail, /local backend down/);
});

test('private-network', () => {
  const route: RouteView = {
    private: true,
    reasons: ["path matches privacy glob '**/secrets/**'"],
    predicted: { backend: 'homelab', model: 'qwen', locality: 'private-network' },
    candidates: [],
  };
  assert.equal(statusView(route).text, '$(server) private-network');
  assert.equal(statusView(route).detail, 'review → qwen @ homelab · private');
});

test('a private file with no local backend up: refused: private', () => {
  const route: RouteView = {
    task: 'review',
    summary: 'review → refused: private, no local or private-network backend available',
    private: true,
    reasons: ["path matches privacy glob '**/secrets/**'"],
    predicted: null,
    candidates: [{ ...localUp, state: 'down' }],
  };
  assert.equal(routeLabel(route), 'refused: private');
  const view = statusView(route);
  assert.equal(view.text, '$(lock) refused: private');
  assert.equal(view.severity, 'warning');
  assert.equal(view.detail, 'local backend down');
});

test('not private, nothing up', () => {
  const route: RouteView = { private: false, predicted: null, candidates: [{ ...localUp, state: 'unknown' }] };
  assert.equal(routeLabel(route), 'no backend available');
  assert.equal(statusView(route).detail, 'local backend not checked yet');
  assert.equal(statusView({ private: false, predicted: null }).detail, 'no backend of the route is up');
});

test('several local backends, and none', () => {
  assert.equal(
    localBackendLabel({
      candidates: [localUp, { backend: 'gpu', model: 'm', locality: 'local', state: 'down' }, localUp],
    }),
    'local backends: local up, gpu down',
  );
  assert.equal(localBackendLabel({ candidates: [cloud] }), undefined);
  assert.equal(
    localBackendLabel({ candidates: [{ backend: 'gpu', model: 'm', locality: 'local', state: 'up' }] }),
    'local backend gpu up',
  );
});

test('status picker lines', () => {
  const up = backendLine({ name: 'local', kind: 'openai', locality: 'local', up: true, latency_ms: 3.4, models: ['coder'], url: 'http://127.0.0.1:8080/v1' });
  assert.equal(up.label, '$(pass-filled) local');
  assert.equal(up.description, 'openai, local, up, 3 ms');
  assert.equal(up.detail, 'http://127.0.0.1:8080/v1 · models: coder');
  const cli = backendLine({ name: 'opencode', kind: 'command', locality: 'cloud', up: true, url: null, executable: '/usr/bin/opencode', version: '1.18.0' });
  assert.equal(cli.detail, '/usr/bin/opencode 1.18.0');
  const down = backendLine({ name: 'cloud', kind: 'copilot', locality: 'cloud', up: false, detail: 'no token' });
  assert.equal(down.description, 'copilot, cloud, down');
  assert.equal(down.detail, 'no token');
});

test('review message', () => {
  assert.equal(
    reviewMessage({ findings: 1, model: 'coder', backend: 'local', locality: 'local', cached: false }),
    'localroute: 1 finding — coder @ local (local)',
  );
  assert.equal(
    reviewMessage({ findings: 0, model: 'coder', backend: 'local', locality: 'local', cached: true }),
    'localroute: no findings — coder @ local (local, from the cache)',
  );
  assert.equal(
    reviewMessage({ findings: 1, model: 'gpt', backend: 'copilot', locality: 'cloud', cached: false, consented: true }),
    'localroute: 1 finding — gpt @ copilot (cloud, sent with your consent)',
  );
});

test('a backend stopped by localroute says stopped, in the item and in the picker', () => {
  const route: RouteView = {
    task: 'review',
    private: false,
    predicted: { backend: 'cloud', model: 'gpt', locality: 'cloud' },
    candidates: [{ ...localUp, state: 'down' }, cloud],
  };
  assert.match(statusView(route, { local: 'stopped' }).detail, /local backend stopped/);
  assert.match(statusView(route, { local: 'starting' }).detail, /local backend starting/);
  // up is up, whatever an older status said
  assert.match(statusView({ ...route, candidates: [localUp] }, { local: 'stopped' }).detail, /local backend up/);
  const line = backendLine({ name: 'local', kind: 'openai', locality: 'local', up: false, state: 'stopped', detail: 'stopped by localroute' });
  assert.equal(line.description, 'openai, local, stopped');
  assert.equal(line.label, '$(debug-stop) local');
  assert.equal(backendState({ up: true }), 'up');
  assert.equal(backendState({ up: false, state: 'starting' }), 'starting');
});

test('which backends can be started or stopped', () => {
  const backends = [
    { name: 'local', kind: 'openai', locality: 'local', up: true, start_command: ['a'], stop_command: ['b'] },
    { name: 'gpu', kind: 'openai', locality: 'local', up: false, start_command: ['c'], stop_command: null },
    { name: 'cloud', kind: 'copilot', locality: 'cloud', up: true, start_command: null, stop_command: [] },
  ] as const satisfies readonly BackendView[];
  assert.deepEqual(controllable(backends, 'start').map((b) => b.name), ['local', 'gpu']);
  assert.deepEqual(controllable(backends, 'stop').map((b) => b.name), ['local']);
  assert.deepEqual(serviceStates(backends), { local: 'up', gpu: 'down', cloud: 'up' });
});

test('bulk summary', () => {
  assert.equal(
    bulkSummary({ files: 3, done: 3, findings: 2, not_reviewed: 0, refused: 0, backends: { local: 3 } }),
    'reviewed 3 of 3 files: 2 findings (local ×3)',
  );
  assert.equal(
    bulkSummary({ files: 4, done: 3, findings: 1, not_reviewed: 1, refused: 1, backends: { local: 1 } }),
    'reviewed 1 of 4 files: 1 finding (local ×1); 1 refused (private, no local backend); 1 not reviewed (see the log); 1 not reached',
  );
});
