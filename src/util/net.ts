import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';

/** Listens on host:port (0 picks a free port) and resolves with the bound address, or rejects (EADDRINUSE…). */
export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
