import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GitStatus, insideRoots, pathsToReview } from '../src/common/changes';

const MODIFIED = 5;
const INDEX_MODIFIED = 0;
const INDEX_ADDED = 1;
const INDEX_RENAMED = 3;
const UNTRACKED = 7;
const BOTH_MODIFIED = 18;

test('changed files: modified, staged, added, untracked, conflicted; each once', () => {
  const paths = pathsToReview([
    { path: '/w/a.py', status: INDEX_MODIFIED },
    { path: '/w/a.py', status: MODIFIED },
    { path: '/w/new.py', status: INDEX_ADDED },
    { path: '/w/scratch.py', status: UNTRACKED },
    { path: '/w/conflict.py', status: BOTH_MODIFIED },
  ]);
  assert.deepEqual(paths, ['/w/a.py', '/w/new.py', '/w/scratch.py', '/w/conflict.py']);
});

test('deletions and ignored files are skipped; renames are reviewed under the new name', () => {
  const paths = pathsToReview([
    { path: '/w/gone.py', status: GitStatus.DELETED },
    { path: '/w/staged-gone.py', status: GitStatus.INDEX_DELETED },
    { path: '/w/both.py', status: GitStatus.BOTH_DELETED },
    { path: '/w/theirs.py', status: GitStatus.DELETED_BY_THEM },
    { path: '/w/ignored.log', status: GitStatus.IGNORED },
    { path: '/w/old.py', renamedTo: '/w/new-name.py', status: INDEX_RENAMED },
  ]);
  assert.deepEqual(paths, ['/w/new-name.py']);
});

test('only files inside a workspace folder are sent', () => {
  const { inside, outside } = insideRoots(['/w/a.py', '/w/sub/b.py', '/wx/c.py', '/other/d.py', '/w'], ['/w']);
  assert.deepEqual(inside, ['/w/a.py', '/w/sub/b.py', '/w']);
  assert.deepEqual(outside, ['/wx/c.py', '/other/d.py']);
});
