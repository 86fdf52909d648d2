/** Records the raw byte stream of a real trace port running the workload (for fuzzing and benchmarks). */
import { connect } from 'node:net';
import { until } from '../helpers.js';
import { compileErlang, freePort, startErl } from './erl.js';

export async function captureWorkloadStream(tsFlag = 'monotonic_timestamp'): Promise<Buffer> {
  const codePath = compileErlang('workload');
  const port = await freePort();
  const node = startErl(codePath, 'workload', 'main', [String(port), tsFlag]);
  try {
    await node.line('port ');
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.on('data', (d: Buffer) => chunks.push(d));
    node.send('go\n');
    await node.line('done');
    let size = -1;
    await until(() => {
      const now = chunks.reduce((n, c) => n + c.length, 0);
      const stable = now === size && now > 0;
      size = now;
      return stable;
    }, 10_000, 'the capture');
    socket.destroy();
    return Buffer.concat(chunks);
  } finally {
    await node.stop();
  }
}
