import { createServer, type AddressInfo } from 'node:net';

/** A port nothing listens on right now (the kernel picks it), for a controller's metrics, health and artifacts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
