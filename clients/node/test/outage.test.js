// Redis goes away and comes back (a new, empty server on the same port: no scripts loaded, no
// registrations): the worker logs it, reconnects, loads take.lua again and serves.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'tempest-worker';
import { exited, request, startFront, startRedis, waitFor } from '../testing/support.js';

describe('Redis outage', () => {
  let redis, front, worker;
  const logs = [];
  before(async () => {
    redis = await startRedis();
    front = await startFront(redis.url);
    worker = new Worker({ redis: redis.url, handleSignals: false, logLevel: 'info' });
    worker.on('log', (level, msg) => logs.push(`${level} ${msg}`));
    worker.on('url', () => 'still here');
    await worker.start();
  });
  after(async () => {
    await worker?.stop();
    front?.stop();
    redis?.stop();
  });

  it('serves again once Redis is back', async () => {
    assert.equal((await request(front.http, '/before')).body.toString(), 'still here');
    redis.stop();
    await exited(redis.child);
    await waitFor(() => logs.some((l) => /reconnecting|unreachable/.test(l)), 'the outage logged');
    redis = await startRedis(redis.port);
    const r = await waitFor(async () => {
      const x = await request(front.http, '/after', { timeout: 3000 }).catch(() => null);
      return x && x.status === 200 ? x : null;
    }, 'an answer after the restart', 10000, 100);
    assert.equal(r.body.toString(), 'still here');
    await waitFor(async () => (await redis.client.sismember('tempest:workers', worker.ids[0])) === 1, 'the worker registered again');
  });
});
