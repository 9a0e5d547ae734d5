import { connect } from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { loadAuthorizationService } from '../../src/grpc/protos.js';
import { CONNECTION_WINDOW_BYTES, GrpcServer } from '../../src/grpc/server.js';

t.test('every connection gets a 4 MiB receive window, not Node\'s 64 KiB default', async (t) => {
  const server = new GrpcServer(loadAuthorizationService(), { Check: (_call: unknown, callback: (error: null, value: Buffer) => void) => callback(null, Buffer.alloc(0)) }, { maxConnectionAgeMs: 0, maxConnectionAgeGraceMs: 0, keepaliveTimeMs: 7_200_000, keepaliveTimeoutMs: 20_000 });
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close(100));
  for (const attempt of ['first', 'second']) {
    const session = connect(`http://127.0.0.1:${port}`);
    await new Promise<void>((resolve, reject) => session.once('remoteSettings', () => resolve()).once('error', reject));
    // The WINDOW_UPDATE follows the server's SETTINGS: wait for it, briefly.
    for (let i = 0; i < 100 && (session.state.remoteWindowSize ?? 0) < CONNECTION_WINDOW_BYTES; i++) await sleep(10);
    t.equal(session.state.remoteWindowSize, CONNECTION_WINDOW_BYTES, `${attempt} connection: the client may send 4 MiB before a WINDOW_UPDATE`);
    session.close();
  }
});
