import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

import {
  type BundleDeps,
  BundleError,
  installBundle,
  locateBundle,
  READY_MARKER,
  type RunResult,
  serveArgv,
  venvPython,
} from '../src/common/bundled';

interface Fake {
  deps: BundleDeps;
  runs: string[][];
  storage: string;
  bundle: string;
}

/** A fake Python: `-c` prints its version, `-m venv DIR` makes DIR/bin/python, pip and
 * `-m localroute --version` answer as told. */
function fake(options: { versions?: Record<string, string>; pip?: RunResult; wheel?: boolean } = {}): Fake {
  const root = mkdtempSync(path.join(tmpdir(), 'lr-bundle-'));
  const bundle = path.join(root, 'bundled');
  const storage = path.join(root, 'storage');
  mkdirSync(bundle);
  if (options.wheel !== false) {
    writeFileSync(path.join(bundle, 'localroute-0.1.0-py3-none-any.whl'), 'wheel bytes');
  }
  const versions = options.versions ?? { '/usr/bin/python3': '3.11' };
  const runs: string[][] = [];
  const deps: BundleDeps = {
    bundleDir: bundle,
    storageDir: storage,
    interpreters: async () => Object.keys(versions),
    platform: 'linux',
    log: () => undefined,
    run: async (argv) => {
      runs.push(argv);
      const [program, isolated, ...args] = argv;
      assert.equal(isolated, '-I', `not isolated: ${argv.join(' ')}`);
      if (args[0] === '-c') {
        const version = versions[program];
        return version === 'broken'
          ? { code: 1, stdout: '', stderr: "ModuleNotFoundError: No module named 'ensurepip'" }
          : { code: 0, stdout: `${version}\n`, stderr: '' };
      }
      if (args[0] === '-m' && args[1] === 'venv') {
        mkdirSync(path.join(args[2], 'bin'), { recursive: true });
        writeFileSync(path.join(args[2], 'bin', 'python'), '');
        return { code: 0, stdout: '', stderr: '' };
      }
      if (args[0] === '-m' && args[1] === 'pip') {
        return options.pip ?? { code: 0, stdout: 'Successfully installed localroute-0.1.0', stderr: '' };
      }
      if (args[0] === '-m' && args[1] === 'localroute') {
        return { code: 0, stdout: 'localroute 0.1.0\n', stderr: '' };
      }
      return { code: 127, stdout: '', stderr: `unexpected ${argv.join(' ')}` };
    },
  };
  return { deps, runs, storage, bundle };
}

test('no wheel in the package: no bundle (a development build)', async () => {
  const f = fake({ wheel: false });
  assert.equal(await locateBundle(f.deps), undefined);
  assert.equal(await locateBundle({ ...f.deps, bundleDir: '/does/not/exist' }), undefined);
});

test('first start: make the environment, pip install the wheel, check it, move it into place', async () => {
  const f = fake();
  const bundle = await locateBundle(f.deps);
  assert.ok(bundle);
  assert.equal(bundle.ready, false);
  assert.match(path.basename(bundle.venv), /^server-[0-9a-f]{16}$/);
  const steps: string[] = [];
  const installed = await installBundle(f.deps, bundle, (step) => steps.push(step));
  assert.equal(installed.ready, true);
  // isolated: a localroute/ folder in the workspace (the server's cwd) is never imported
  assert.deepEqual(serveArgv(installed), [venvPython(bundle.venv, 'linux'), '-I', '-m', 'localroute', 'serve']);
  assert.ok(existsSync(path.join(bundle.venv, READY_MARKER)));
  const marker = JSON.parse(readFileSync(path.join(bundle.venv, READY_MARKER), 'utf8'));
  assert.equal(marker.interpreter, '/usr/bin/python3');
  assert.equal(marker.wheel, 'localroute-0.1.0-py3-none-any.whl');
  // pip got the wheel, and the folder of bundled wheels as --find-links
  const pip = f.runs.find((argv) => argv[3] === 'pip');
  assert.ok(pip);
  assert.equal(pip[pip.length - 1], path.join(f.bundle, 'localroute-0.1.0-py3-none-any.whl'));
  assert.equal(pip[pip.indexOf('--find-links') + 1], f.bundle);
  assert.equal(steps.length, 2);
  // nothing left but the environment
  assert.deepEqual(readdirSync(f.storage), [path.basename(bundle.venv)]);
  // the next start finds it ready and runs nothing
  const again = await locateBundle(f.deps);
  assert.equal(again?.ready, true);
});

test('another wheel (an update): a new environment, and the old one is removed', async () => {
  const f = fake();
  const first = await installBundle(f.deps, (await locateBundle(f.deps))!);
  writeFileSync(path.join(f.bundle, 'localroute-0.1.0-py3-none-any.whl'), 'other wheel bytes');
  const second = await locateBundle(f.deps);
  assert.ok(second);
  assert.notEqual(second.venv, first.venv);
  assert.equal(second.ready, false);
  await installBundle(f.deps, second);
  assert.deepEqual(readdirSync(f.storage), [path.basename(second.venv)]);
});

test('an old Python or one without venv is passed over for the next', async () => {
  const f = fake({ versions: { '/old/python3': '3.9', '/debian/python3': 'broken', '/usr/bin/python3': '3.12' } });
  const installed = await installBundle(f.deps, (await locateBundle(f.deps))!);
  const marker = JSON.parse(readFileSync(path.join(installed.venv, READY_MARKER), 'utf8'));
  assert.equal(marker.interpreter, '/usr/bin/python3');
});

test('no usable Python: an error that says what was tried', async () => {
  const f = fake({ versions: { '/old/python3': '3.10' } });
  await assert.rejects(installBundle(f.deps, (await locateBundle(f.deps))!), (err: Error) => {
    assert.ok(err instanceof BundleError);
    assert.match(err.message, /no Python 3\.11 or later/);
    assert.match(err.message, /\/old\/python3 is Python 3\.10/);
    return true;
  });
  assert.equal(existsSync(f.storage) ? readdirSync(f.storage).length : 0, 0);
});

test('pip fails: the error names pip and its last words; nothing is left half-installed', async () => {
  const f = fake({
    pip: { code: 1, stdout: '', stderr: 'ERROR: Could not find a version that satisfies the requirement pygls' },
  });
  const bundle = (await locateBundle(f.deps))!;
  await assert.rejects(installBundle(f.deps, bundle), (err: Error) => {
    assert.match(err.message, /pip install failed \(exit 1\): ERROR: Could not find a version/);
    assert.match(err.message, /localroute\.server\.path/);
    return true;
  });
  assert.deepEqual(readdirSync(f.storage), []);
  assert.equal((await locateBundle(f.deps))?.ready, false);
});

test('Windows layout', () => {
  assert.equal(venvPython('C:\\s\\server-1', 'win32'), path.join('C:\\s\\server-1', 'Scripts', 'python.exe'));
});
