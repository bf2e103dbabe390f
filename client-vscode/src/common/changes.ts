/**
 * Which files "Review Changed Files" sends: from the built-in Git extension's view of each
 * repository (index, working tree, merge conflicts and untracked files), deletions skipped,
 * renames under their new name, each file once. Pure: no runtime import of `vscode`.
 */

/**
 * `Status` of the Git extension's API (extensions/git/src/api/git.d.ts in VS Code). No npm
 * package publishes that file, and the extension asks API users to copy it; the few values
 * used here are copied instead.
 */
export const GitStatus = {
  INDEX_DELETED: 2,
  DELETED: 6,
  IGNORED: 8,
  DELETED_BY_US: 14,
  DELETED_BY_THEM: 15,
  BOTH_DELETED: 17,
} as const;

const GONE: ReadonlySet<number> = new Set([
  GitStatus.INDEX_DELETED,
  GitStatus.DELETED,
  GitStatus.IGNORED,
  GitStatus.DELETED_BY_US,
  GitStatus.DELETED_BY_THEM,
  GitStatus.BOTH_DELETED,
]);

/** A change as the Git API reports it, by file system path. */
export interface ChangedPath {
  path: string;
  /** The new path of a renamed file. */
  renamedTo?: string;
  status: number;
}

/** The paths to review: deleted and ignored entries skipped, renames followed, no duplicates,
 * in the order given. */
export function pathsToReview(changes: Iterable<ChangedPath>): string[] {
  const seen = new Set<string>();
  for (const change of changes) {
    if (GONE.has(change.status)) {
      continue;
    }
    seen.add(change.renamedTo ?? change.path);
  }
  return [...seen];
}

/** Splits paths into those inside one of `roots` (workspace folders) and the rest. */
export function insideRoots(
  paths: readonly string[],
  roots: readonly string[],
  sep = '/',
): { inside: string[]; outside: string[] } {
  const inside: string[] = [];
  const outside: string[] = [];
  for (const p of paths) {
    const within = roots.some((root) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep));
    (within ? inside : outside).push(p);
  }
  return { inside, outside };
}
