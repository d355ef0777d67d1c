// The pure parts: job decoding, answer encoding, Redis URLs, the RESP reply reader.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Request, decodeJob, encodeUrlAnswer, parseWorkerArgs, redisOptions } from 'tempest-worker';
import { ReplyReader, respCommand, splitHostPort } from '../src/answers.js';

describe('codec', () => {
  it('decodes jobs and refuses what is not one', () => {
    assert.deepEqual(decodeJob('["url",[{}],"h:1",42.0]'), { action: 'url', args: [{}], respondTo: 'h:1', id: 42, payload: '["url",[{}],"h:1",42.0]' });
    assert.equal(decodeJob('["x",[],null,1]').respondTo, '');
    for (const bad of ['nope', '{}', '["url",[{}],"h:1"]', '["",[],null,1]', '["url",{},null,1]', '["url",[],5,1]', '["url",[],null,1.5]', '["url",[],null,9007199254740993]'])
      assert.throws(() => decodeJob(bad), Error, bad);
  });

  it('gives a request a signal that aborts at its deadline', async () => {
    const job = (deadline) => decodeJob(JSON.stringify(['url', [{ method: 'GET', url: '/x?a=1', headers: { A: 'b' }, deadline }], null, 1]));
    const req = new Request(job(Date.now() + 50));
    assert.equal(req.signal.aborted, false);
    const keep = setTimeout(() => {}, 2000);  // AbortSignal.timeout's timer does not hold the loop
    await new Promise((res) => req.signal.addEventListener('abort', res));
    clearTimeout(keep);
    assert.equal(await req.cancelled(), true);
    const none = new Request(decodeJob('["url",[{"method":"GET","url":"/y?z=2","headers":{"X-Up":"v"}}],null,2]'));
    assert.equal(none.signal.aborted, false);
    assert.equal(await none.cancelled(), false);
    assert.deepEqual([none.path, none.query, none.header('x-up'), none.headers['x-up'], none.body, none.retry], ['/y', 'z=2', 'v', 'v', null, null]);
  });

  it('encodes the answer shapes a handler may return', () => {
    const enc = (r) => JSON.parse(encodeUrlAnswer(r).json);
    assert.deepEqual(enc('hi'), [200, { 'content-type': 'text/plain; charset=utf-8' }, 'hi']);
    assert.deepEqual(enc(undefined), [200, {}, '']);
    assert.deepEqual(enc(Buffer.from([0xff])), [200, { 'content-type': 'application/octet-stream' }, { base64: '/w==' }]);
    assert.deepEqual(enc(Buffer.from('ok')), [200, { 'content-type': 'application/octet-stream' }, 'ok']);
    assert.deepEqual(enc(['404', { A: 1 }]), [404, { A: '1' }, '']);
    assert.deepEqual(enc({ status: 201, body: { a: 1 } }), [201, { 'content-type': 'application/json; charset=utf-8' }, '{"a":1}']);
    assert.deepEqual(enc({ headers: [['Set-Cookie', 'a'], ['X', 'y'], ['set-cookie', 'b']] }), [200, { 'Set-Cookie': ['a', 'b'], X: 'y' }, '']);
    assert.deepEqual(enc({ headers: new Map([['X', ['1', 2]]]) }), [200, { X: ['1', '2'] }, '']);
    assert.deepEqual(enc({ body: 'a\ud800b' }), [200, {}, 'a\ufffdb']);  // a lone surrogate
    const bad = encodeUrlAnswer({ status: 700, headers: { 'a b': 'x', c: 'd\ne', t: true, ok: 'tab\tis fine' } });
    assert.deepEqual(JSON.parse(bad.json), [500, { ok: 'tab\tis fine' }, '']);
    assert.equal(bad.dropped, 3);
    assert.equal(bad.badStatus, true);
    assert.throws(() => encodeUrlAnswer(12), TypeError);
    assert.throws(() => encodeUrlAnswer({ body: 12 }), TypeError);
  });

  it('reads Redis URLs', () => {
    assert.deepEqual(redisOptions('redis://127.0.0.1:6380/2'), { host: '127.0.0.1', port: 6380, db: 2 });
    assert.deepEqual(redisOptions('redis://u:p%40ss@h'), { host: 'h', port: 6379, username: 'u', password: 'p@ss' });
    assert.deepEqual(redisOptions('redis://:pw@[::1]:7000'), { host: '::1', port: 7000, password: 'pw' });
    assert.deepEqual(redisOptions('unix:/run/redis.sock?db=3'), { path: '/run/redis.sock', db: 3 });
    assert.throws(() => redisOptions('http://x'), /scheme/);
    assert.throws(() => redisOptions('redis://h/x'), /db/);
  });

  it('parses the standard flags and refuses bad ones', () => {
    assert.deepEqual(parseWorkerArgs(['--redis', 'redis://h:1/2', '--queue', 'q', '--plain', '--concurrency', '3',
      '--answer-allow', 'a:1, [::1]:2', '--heartbeat-ttl', '900', '--log-level', 'warn']).options,
    { redis: 'redis://h:1/2', queue: 'q', mode: 'plain', concurrency: 3, answerAllow: ['a:1', '[::1]:2'], heartbeatTtl: 900, logLevel: 'warn' });
    for (const bad of [['--concurrency', '0'], ['--mode', 'x'], ['--answer-allow', 'nope'], ['--log-level', 'loud'],
      ['--redis', 'http://x'], ['--what'], ['extra']])
      assert.throws(() => parseWorkerArgs(bad), Error, bad.join(' '));
  });

  it('splits respond_to and reads RESP replies split anywhere', () => {
    assert.deepEqual(splitHostPort('127.0.0.1:7001'), { host: '127.0.0.1', port: 7001 });
    assert.deepEqual(splitHostPort('[::1]:7001'), { host: '::1', port: 7001 });
    assert.equal(splitHostPort('nohost'), null);
    assert.equal(splitHostPort('h:0'), null);
    assert.equal(respCommand(['url', 42, 'é']).toString(), '*3\r\n$3\r\nurl\r\n$2\r\n42\r\n$2\r\né\r\n');
    const text = '+OK\r\n-ERR unknown job 5\r\n:3\r\n$5\r\nhello\r\n$-1\r\n*2\r\n+a\r\n+b\r\n+OK\r\n';
    for (let cut = 0; cut <= text.length; ++cut) {
      const r = new ReplyReader();
      const got = [...r.push(Buffer.from(text.slice(0, cut))), ...r.push(Buffer.from(text.slice(cut)))];
      assert.deepEqual(got.map((x) => [x.ok, x.text]), [[true, 'OK'], [false, 'ERR unknown job 5'], [true, '3'], [true, 'hello'], [true, null], [true, ''], [true, 'OK']]);
    }
  });
});
