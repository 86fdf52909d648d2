import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * Listens on host:port (0 picks a free port) and resolves with the bound
 * address, or rejects; a port in use or not allowed names `option`, the
 * config key that moves it (service.telemetry.metrics.endpoint…).
 */
export function listen(server: Server, port: number, host: string, option: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      const at = `${host}:${port}`;
      if (error.code === 'EADDRINUSE') reject(new Error(`${at} is in use by another program (EADDRINUSE): set ${option} to another host:port (port 0 picks a free one)`));
      else if (error.code === 'EACCES') reject(new Error(`${at} needs privileges this user lacks (EACCES): set ${option} to a port above 1023`));
      else if (error.code === 'EADDRNOTAVAIL') reject(new Error(`${at}: no interface of this machine has that address (EADDRNOTAVAIL): check ${option}`));
      else reject(error);
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve(server.address() as AddressInfo);
    });
  });
}
