import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { HarnessError } from './errors.js';

const run = promisify(execFile);

/** Commits made by the helpers carry this identity, so no git config on the machine is needed. */
const IDENTITY = ['-c', 'user.name=Fledge Tests', '-c', 'user.email=tests@fledge.invalid'];

function httpBackendPath(): string {
  const probe = spawnSync('git', ['--exec-path'], { encoding: 'utf8' });
  const backend = probe.status === 0 ? join(probe.stdout.trim(), 'git-http-backend') : '';
  if (probe.error || probe.status !== 0 || !existsSync(backend)) {
    throw new HarnessError('the GitOps tests serve Git repositories with git (and its git-http-backend): apt-get install git');
  }
  return backend;
}

export interface GitCommit {
  sha: string;
  subject: string;
  /** The message after the subject line. */
  body: string;
}

export interface GitServer {
  /** http://127.0.0.1:<port>, without credentials. */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** Creates an empty bare repository that accepts pushes; returns its clone URL (without credentials). */
  createRepo(name: string): Promise<string>;
  /** Clones `repo` over HTTP, writes `files` (path → content), commits and pushes to `branch`; returns the new commit. */
  commitFiles(repo: string, files: Record<string, string>, message: string, branch?: string): Promise<string>;
  /** The branch's history, newest first, read from the bare repository. */
  log(repo: string, branch?: string): Promise<GitCommit[]>;
  /** A file's bytes as the branch's tip has it, read from the bare repository. */
  show(repo: string, path: string, branch?: string): Promise<string>;
  close(): Promise<void>;
}

/** Splits a CGI answer into its status, headers and the body that follows the blank line. */
function parseCgiHead(head: string): { status: number; headers: Array<[string, string]> } {
  let status = 200;
  const headers: Array<[string, string]> = [];
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
    else headers.push([name, value]);
  }
  return { status, headers };
}

function authorized(req: IncomingMessage, username: string, password: string): boolean {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return false;
  return Buffer.from(header.slice('Basic '.length), 'base64').toString() === `${username}:${password}`;
}

/**
 * A smart-HTTP Git server on 127.0.0.1 (a random port) for bare repositories in a temporary directory: Node
 * checks HTTP basic auth and hands every request to `git http-backend` as CGI, so clone, fetch and push are
 * real Git over HTTP, as Flux's source-controller does them against a hosted Git server.
 */
export async function startGitServer(opts: { username: string; password: string }): Promise<GitServer> {
  const backend = httpBackendPath();
  const root = mkdtempSync(join(tmpdir(), 'fledge-git-'));
  const repos = join(root, 'repos');
  mkdirSync(repos);

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (!authorized(req, opts.username, opts.password)) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="fledge-tests"' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const cgi = spawn(backend, [], {
      env: {
        PATH: process.env.PATH ?? '',
        GIT_PROJECT_ROOT: repos,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        // Unset for a chunked body: http-backend then reads to the end of its stdin.
        ...(req.headers['content-length'] !== undefined && { CONTENT_LENGTH: req.headers['content-length'] }),
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        HTTP_GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_USER: opts.username,
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    req.pipe(cgi.stdin);
    let stderr = '';
    cgi.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let head = Buffer.alloc(0);
    let headDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const text = head.toString('latin1');
      const end = text.search(/\r?\n\r?\n/);
      if (end < 0) return;
      const separator = /\r?\n\r?\n/.exec(text.slice(end))?.[0].length ?? 2;
      const { status, headers } = parseCgiHead(text.slice(0, end));
      res.statusCode = status;
      for (const [name, value] of headers) res.setHeader(name, value);
      headDone = true;
      res.write(head.subarray(end + separator));
    });
    cgi.on('error', (err) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
    cgi.on('close', (code) => {
      if (!headDone) {
        res.writeHead(500).end(`git http-backend exited ${code}: ${stderr}`);
        return;
      }
      res.end();
    });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const authUrl = (repo: string): string =>
    `http://${encodeURIComponent(opts.username)}:${encodeURIComponent(opts.password)}@127.0.0.1:${(server.address() as AddressInfo).port}/${repo}.git`;
  const bare = (repo: string): string => join(repos, `${repo}.git`);

  return {
    url,
    username: opts.username,
    password: opts.password,
    createRepo: async (name) => {
      await run('git', ['init', '--quiet', '--bare', '--initial-branch=main', bare(name)]);
      await run('git', ['--git-dir', bare(name), 'config', 'http.receivepack', 'true']);
      return `${url}/${name}.git`;
    },
    commitFiles: async (repo, files, message, branch = 'main') => {
      const work = mkdtempSync(join(root, 'work-'));
      try {
        // A fresh clone per commit, over HTTP with the credentials: every commit also proves clone and push.
        await run('git', ['clone', '--quiet', authUrl(repo), work]);
        await run('git', ['-C', work, 'checkout', '--quiet', '-B', branch]);
        for (const [path, content] of Object.entries(files)) {
          mkdirSync(dirname(join(work, path)), { recursive: true });
          writeFileSync(join(work, path), content);
        }
        await run('git', ['-C', work, 'add', '--all']);
        await run('git', ['-C', work, ...IDENTITY, 'commit', '--quiet', '--message', message]);
        await run('git', ['-C', work, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`]);
        return (await run('git', ['-C', work, 'rev-parse', 'HEAD'])).stdout.trim();
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    log: async (repo, branch = 'main') => {
      // Unit and record separators: a body has newlines and tabs of its own.
      const { stdout } = await run('git', ['--git-dir', bare(repo), 'log', '--format=%H%x1f%s%x1f%b%x1e', branch]);
      return stdout
        .split('\x1e')
        .map((record) => record.replace(/^\n/, ''))
        .filter((record) => record !== '')
        .map((record) => {
          const [sha = '', subject = '', body = ''] = record.split('\x1f');
          return { sha, subject, body: body.trimEnd() };
        });
    },
    show: async (repo, path, branch = 'main') => (await run('git', ['--git-dir', bare(repo), 'show', `${branch}:${path}`])).stdout,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
