// A Redis on a unix socket (unix:/path?db=N, docs/protocol.md 5.2): front and worker both on it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'tempest-worker';
import { request, startFront, track, waitFor } from '../testing/support.js';

describe('unix socket Redis', () => {
  let dir, redis, front, worker;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tempest-node-unix-'));
    const sock = join(dir, 'redis.sock');
    redis = track(spawn('redis-server', ['--port', '0', '--unixsocket', sock, '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'ignore', 'inherit'] }));
    await waitFor(() => existsSync(sock), 'the socket');
    front = await startFront(`unix:${sock}?db=1`);
    worker = new Worker({ redis: `unix:${sock}?db=1`, logLevel: 'error', handleSignals: false });
    worker.on('url', () => 'over a unix socket');
    await worker.start();
  });
  after(async () => {
    await worker?.stop();
    front?.stop();
    redis?.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers', async () => {
    assert.equal((await request(front.http, '/')).body.toString(), 'over a unix socket');
  });
});
