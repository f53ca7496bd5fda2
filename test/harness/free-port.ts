import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ports as clusterPorts } from './config.js';

/**
 * Ports for processes the harness starts and that must be told their port in advance (Flux's controllers, the
 * bench's controllers). A port the kernel picked (listen on 0, close, hand over) can be taken before the child binds
 * it, by another listener or by any outgoing connection, which draws its local port from the same ephemeral range.
 * So ports come from outside that range, where only a deliberate bind can land, and each is reserved with a lock file
 * across every process of the suite (vitest's workers, the bench); a lock whose process has exited is taken back.
 */
const lockDir = (): string => join(process.env.FLEDGE_PORT_LOCK_DIR ?? tmpdir(), 'fledge-port-locks');
const FIRST = 20_000;
const LAST = 65_535;

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && Number.isInteger(low) && Number.isInteger(high)) return [low, high];
  } catch {
    // Not Linux: the IANA dynamic range is the usual one.
  }
  return [49_152, 65_535];
}

/** Ports a reservation may take: not ephemeral, not the local cluster's fixed ones. */
export function reservablePorts(): { first: number; last: number; excluded: Array<[number, number]> } {
  const clusterLow = Math.min(...Object.values(clusterPorts));
  const clusterHigh = Math.max(...Object.values(clusterPorts));
  return { first: FIRST, last: LAST, excluded: [ephemeralRange(), [clusterLow, clusterHigh]] };
}

function candidate(): number {
  const { first, last, excluded } = reservablePorts();
  for (;;) {
    const port = first + Math.floor(Math.random() * (last - first + 1));
    if (!excluded.some(([low, high]) => port >= low && port <= high)) return port;
  }
}

/** Whether a process with this pid exists (EPERM: it does, as another user's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock of `port` for this process, or of a process that has exited; false when a live one holds it. */
function lock(port: number): boolean {
  const path = join(lockDir(), String(port));
  // Written whole, then linked into place: link refuses an existing name, so no reader sees a half-written lock.
  const mine = join(lockDir(), `.${process.pid}-${port}`);
  writeFileSync(mine, String(process.pid));
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(mine, path);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = Number(readFileSync(path, 'utf8'));
        if (Number.isInteger(holder) && holder > 0 && alive(holder)) return false;
        rmSync(path, { force: true });
      }
    }
    return false;
  } finally {
    rmSync(mine, { force: true });
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Reserves `port` for this process: true when its lock was free (or its holder has exited) and the port binds. */
export async function tryReserve(port: number): Promise<boolean> {
  mkdirSync(lockDir(), { recursive: true });
  if (!lock(port)) return false;
  if (await bindable(port)) return true;
  rmSync(join(lockDir(), String(port)), { force: true });
  return false;
}

/**
 * A loopback port reserved for this process until it exits: outside the kernel's ephemeral range, locked against
 * the suite's other processes, and free when handed out. Give it to a child to bind; if the child still reports
 * EADDRINUSE (something outside the harness bound it), start the child again with a new port.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = candidate();
    if (await tryReserve(port)) return port;
  }
  throw new Error(`no free port to reserve in ${FIRST}-${LAST} outside the ephemeral range after 200 tries (locks in ${lockDir()})`);
}

/** True when a child's output says it could not bind its address: start it again with new ports. */
export function addressInUse(output: string): boolean {
  return /address already in use|EADDRINUSE/i.test(output);
}
