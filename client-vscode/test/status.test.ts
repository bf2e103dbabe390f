import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backendLine, localBackendLabel, reviewMessage, routeLabel, statusView } from '../src/common/status';

const localUp = { backend: 'local', model: 'coder', locality: 'local', state: 'up' };
const cloud = { backend: 'cloud', model: 'gpt', locality: 'cloud', state: 'up' };

test('a route to the local backend', () => {
  const route = {
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
  const route = {
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
  const route = {
    private: true,
    reasons: ["path matches privacy glob '**/secrets/**'"],
    predicted: { backend: 'homelab', model: 'qwen', locality: 'private-network' },
    candidates: [],
  };
  assert.equal(statusView(route).text, '$(server) private-network');
  assert.equal(statusView(route).detail, 'review → qwen @ homelab · private');
});

test('a private file with no local backend up: refused: private', () => {
  const route = {
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
  const route = { private: false, predicted: null, candidates: [{ ...localUp, state: 'unknown' }] };
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
});
