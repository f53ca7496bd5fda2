/**
 * The files of one commit as write-back reads them: from Git's objects, without a working tree, so a write-back
 * neither needs disk for a checkout nor pays for files it never opens. Paths are repository-relative, with '/'.
 */
export interface Snapshot {
  kind(path: string): Promise<'file' | 'dir' | undefined>;
  /** Every file under `dir` (recursively), sorted; `dir` '' or '.' is the whole repository. */
  files(dir: string): Promise<string[]>;
  read(path: string): Promise<string | undefined>;
}

/** `a/./b/../c/` → `a/c`; undefined when it leaves the repository. */
export function normalizePath(path: string): string | undefined {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return parts.join('/');
}

/** A snapshot of files held in memory (path → content), for a commit being built and for tests. */
export function memorySnapshot(files: Readonly<Record<string, string>>): Snapshot {
  const paths = Object.keys(files).sort();
  const under = (dir: string): string[] => (dir === '' ? paths : paths.filter((path) => path.startsWith(`${dir}/`)));
  return {
    kind: async (path) => {
      const normal = normalizePath(path);
      if (normal === undefined) return undefined;
      if (files[normal] !== undefined) return 'file';
      return under(normal).length > 0 ? 'dir' : undefined;
    },
    files: async (dir) => under(normalizePath(dir) ?? ''),
    read: async (path) => files[normalizePath(path) ?? ''],
  };
}
