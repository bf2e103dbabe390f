import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

import { which } from '../src/common/exec';
import { type DiscoveryDeps, findServer } from '../src/common/server';

function deps(over: Partial<DiscoveryDeps> = {}): DiscoveryDeps & { calls: string[] } {
  const calls: string[] = [];
  const base: DiscoveryDeps = {
    settingArgv: [],
    trusted: true,
    pythonExtensionInstalled: true,
    pythonInterpreter: async () => {
      calls.push('pythonInterpreter');
      return '/venv/bin/python';
    },
    pythonHasLocalroute: async (python) => {
      calls.push(`pythonHasLocalroute ${python}`);
      return true;
    },
    which: async (program) => {
      calls.push(`which ${program}`);
      return program.startsWith('/') ? program : `/usr/bin/${program}`;
    },
    bundled: async () => {
      calls.push('bundled');
      return { absent: true };
    },
  };
  return Object.assign(base, over, { calls });
}

test('1. the setting comes first, as a whole argv', async () => {
  const d = deps({ settingArgv: ['/opt/py/bin/python', '-m', 'localroute', 'serve'] });
  const found = await findServer(d);
  assert.deepEqual(found.command, {
    argv: ['/opt/py/bin/python', '-m', 'localroute', 'serve'],
    source: 'setting',
  });
  assert.deepEqual(d.calls, ['which /opt/py/bin/python']);
  assert.deepEqual(found.warnings, []);
});

test('a program name in the setting is resolved on PATH', async () => {
  const found = await findServer(deps({ settingArgv: ['localroute', 'serve', '--log-level', 'DEBUG'] }));
  assert.deepEqual(found.command?.argv, ['/usr/bin/localroute', 'serve', '--log-level', 'DEBUG']);
});

test('the setting is refused in an untrusted workspace, with a message; only PATH is used', async () => {
  const d = deps({ trusted: false, settingArgv: ['/repo/.venv/bin/python', '-m', 'localroute', 'serve'] });
  const found = await findServer(d);
  assert.deepEqual(found.command, { argv: ['/usr/bin/localroute', 'serve'], source: 'path' });
  assert.equal(found.warnings.length, 1);
  assert.match(found.warnings[0], /untrusted workspace/);
  // neither the setting's program nor the (possibly workspace-owned) interpreter was touched
  assert.deepEqual(d.calls, ['bundled', 'which localroute']);
});

test('a setting whose program does not exist: warn, then go on to the Python extension', async () => {
  const d = deps({
    settingArgv: ['/nope/python', '-m', 'localroute', 'serve'],
    which: async (program) => (program === '/nope/python' ? undefined : `/usr/bin/${program}`),
  });
  const found = await findServer(d);
  assert.equal(found.command?.source, 'python');
  assert.match(found.warnings[0], /'\/nope\/python' was not found/);
});

test("3. no setting, no bundle: the Python extension's interpreter, as -m localroute serve", async () => {
  const d = deps();
  const found = await findServer(d);
  assert.deepEqual(found.command, {
    argv: ['/venv/bin/python', '-m', 'localroute', 'serve'],
    source: 'python',
  });
  assert.deepEqual(d.calls, ['bundled', 'pythonInterpreter', 'pythonHasLocalroute /venv/bin/python']);
});

test('4. the interpreter has no localroute: PATH', async () => {
  const found = await findServer(deps({ pythonHasLocalroute: async () => false }));
  assert.deepEqual(found.command, { argv: ['/usr/bin/localroute', 'serve'], source: 'path' });
  assert.ok(found.notes.some((n) => n.includes('has no localroute')));
});

test('4. no Python extension: PATH, and the interpreter is never asked for', async () => {
  const d = deps({ pythonExtensionInstalled: false });
  const found = await findServer(d);
  assert.equal(found.command?.source, 'path');
  assert.deepEqual(d.calls, ['bundled', 'which localroute']);
});

test('the Python extension failing does not stop discovery', async () => {
  const found = await findServer(
    deps({
      pythonInterpreter: async () => {
        throw new Error('boom');
      },
    }),
  );
  assert.equal(found.command?.source, 'path');
});

test('nothing works: a clear message that names the setting, and no pip command', async () => {
  const found = await findServer(
    deps({ pythonInterpreter: async () => undefined, which: async () => undefined }),
  );
  assert.equal(found.command, undefined);
  assert.ok(found.error?.includes('localroute.server.path'));
  assert.match(found.error ?? '', /no bundled server/);
  assert.doesNotMatch(found.error ?? '', /pip install/);
  assert.ok(found.notes.length >= 3);
});

test('2. the bundled server comes after the setting and before the interpreter and PATH', async () => {
  const d = deps({ bundled: async () => ({ argv: ['/storage/server-1/bin/python', '-m', 'localroute', 'serve'] }) });
  const found = await findServer(d);
  assert.deepEqual(found.command, {
    argv: ['/storage/server-1/bin/python', '-m', 'localroute', 'serve'],
    source: 'bundled',
  });
  assert.deepEqual(d.calls, []);
  assert.deepEqual(found.warnings, []);
});

test('the setting wins over the bundled server, which is then not installed', async () => {
  let asked = false;
  const found = await findServer(
    deps({
      settingArgv: ['/opt/py/bin/python', '-m', 'localroute', 'serve'],
      bundled: async () => {
        asked = true;
        return { argv: ['/x'] };
      },
    }),
  );
  assert.equal(found.command?.source, 'setting');
  assert.equal(asked, false);
});

test('untrusted: the setting is refused, the bundled server (owned by the extension) is used', async () => {
  const d = deps({
    trusted: false,
    settingArgv: ['/repo/.venv/bin/python', '-m', 'localroute', 'serve'],
    bundled: async () => ({ argv: ['/storage/server-1/bin/python', '-m', 'localroute', 'serve'] }),
  });
  const found = await findServer(d);
  assert.equal(found.command?.source, 'bundled');
  assert.match(found.warnings[0], /untrusted workspace/);
  assert.deepEqual(d.calls, []);
});

test('a bundled server that cannot be installed: warn, then the interpreter and PATH', async () => {
  const found = await findServer(deps({ bundled: async () => ({ error: 'pip install failed (exit 1): no network' }) }));
  assert.equal(found.command?.source, 'python');
  assert.match(found.warnings[0], /bundled server could not be installed: pip install failed/);
});

test('nothing works after a failed install: the error names the install failure', async () => {
  const found = await findServer(
    deps({
      pythonInterpreter: async () => undefined,
      which: async () => undefined,
      bundled: async () => ({ error: 'no Python 3.11 or later' }),
    }),
  );
  assert.equal(found.command, undefined);
  assert.match(found.error ?? '', /could not be installed: no Python 3.11 or later/);
  assert.deepEqual(found.warnings, []);
});

test('which: finds executables on PATH and checks explicit paths', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lr-which-'));
  const exe = path.join(dir, 'localroute');
  writeFileSync(exe, '#!/bin/sh\n');
  chmodSync(exe, 0o755);
  const plain = path.join(dir, 'not-executable');
  writeFileSync(plain, '');
  chmodSync(plain, 0o644);
  const env = { PATH: ['/definitely/missing', dir].join(path.delimiter) };
  assert.equal(await which('localroute', env), exe);
  assert.equal(await which('missing-program', env), undefined);
  assert.equal(await which(exe, env), exe);
  assert.equal(await which('./localroute', env, dir), exe);
  if (process.platform !== 'win32') {
    assert.equal(await which(plain, env), undefined);
    assert.equal(await which('not-executable', env), undefined);
  }
  assert.equal(await which(dir, env), undefined);
  // a relative PATH entry is never searched (it would find the workspace's programs)
  assert.equal(await which('localroute', { PATH: path.relative(process.cwd(), dir) }), undefined);
});
