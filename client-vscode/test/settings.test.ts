import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  bulkAllowCloud,
  configurationAnswer,
  didChangeConfigurationParams,
  type Inspected,
  serverSettings,
} from '../src/common/settings';

function inspector(values: Record<string, Inspected>) {
  return (key: string): Inspected | undefined => values[key];
}

test('nothing set: both levels empty, defaults are not sent', () => {
  assert.deepEqual(serverSettings(inspector({})), { user: {}, workspace: {} });
  // a default value alone (what inspect() calls defaultValue) is not forwarded
  const onlyDefaults = inspector({ 'privacy.detectSecrets': {}, routes: {} });
  assert.deepEqual(serverSettings(onlyDefaults), { user: {}, workspace: {} });
});

test('user and workspace values travel apart, in the TOML shape', () => {
  const settings = serverSettings(
    inspector({
      'privacy.globs': { globalValue: ['internal/**'], workspaceValue: ['vendor/**'] },
      'privacy.detectSecrets': { globalValue: false, workspaceValue: true },
      'privacy.allowPrivateNetwork': { workspaceValue: false },
      routes: {
        globalValue: { review: ['local:coder', 'homelab:qwen3-coder:30b'] },
        workspaceValue: { explain: ['local:coder'] },
      },
    }),
  );
  assert.deepEqual(settings, {
    user: {
      privacy: { globs: ['internal/**'], detect_secrets: false },
      tasks: { review: { route: ['local:coder', 'homelab:qwen3-coder:30b'] } },
    },
    workspace: {
      privacy: { globs: ['vendor/**'], detect_secrets: true, allow_private_network: false },
      tasks: { explain: { route: ['local:coder'] } },
    },
  });
});

test('a workspace value that loosens privacy is still sent as workspace level (the server ignores it)', () => {
  const settings = serverSettings(
    inspector({ 'privacy.detectSecrets': { workspaceValue: false } }),
  );
  assert.deepEqual(settings.user, {});
  assert.deepEqual(settings.workspace, { privacy: { detect_secrets: false } });
});

test('backends are never sent from the editor', () => {
  const settings = serverSettings(
    inspector({ backends: { globalValue: { local: { kind: 'openai', url: 'http://x' } } } }),
  );
  assert.deepEqual(settings, { user: {}, workspace: {} });
});

test('routes that are not an object are left out', () => {
  const settings = serverSettings(inspector({ routes: { globalValue: ['local:coder'] } }));
  assert.deepEqual(settings, { user: {}, workspace: {} });
});

test('didChangeConfiguration carries the split settings under "localroute"', () => {
  const split = { user: { privacy: { globs: ['a/**'] } }, workspace: {} };
  assert.deepEqual(didChangeConfigurationParams(split), { settings: { localroute: split } });
});

test('workspace/configuration: section localroute gets the split settings, others keep VS Code\'s answer', () => {
  const split = { user: {}, workspace: { privacy: { globs: ['b/**'] } } };
  const answer = configurationAnswer(
    [{ section: 'localroute' }, { section: 'editor' }, {}],
    [{ merged: true }, { tabSize: 4 }, null],
    split,
  );
  assert.deepEqual(answer, [split, { tabSize: 4 }, null]);
});

test('bulk.allowCloud: only an explicit user-level true; a workspace cannot turn it on', () => {
  const inspectWith = (value: Inspected) => (key: string) => (key === 'bulk.allowCloud' ? value : undefined);
  assert.equal(bulkAllowCloud(inspectWith({ globalValue: true })), true);
  assert.equal(bulkAllowCloud(inspectWith({ workspaceValue: true })), false);
  assert.equal(bulkAllowCloud(inspectWith({ globalValue: false, workspaceValue: true })), false);
  assert.equal(bulkAllowCloud(inspectWith({ globalValue: 'yes' })), false);
  assert.equal(bulkAllowCloud(() => undefined), false);
});
