// A real Express app (npm's express) served as a worker through tempest-worker/express, behind
// a real front: JSON, urlencoded and JSON bodies, cookies (repeated Set-Cookie), status and
// headers, 404, a thrown error (500), redirects, writeHead, streaming writes collected, HEAD.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { serveApp } from 'tempest-worker/express';
import { request, startStack } from '../testing/support.js';

let stack, worker;
const app = express();
app.set('env', 'test');  // finalhandler: no stack traces on stderr
app.use(express.json());
app.use(express.urlencoded({ extended: false }));
app.get('/json', (req, res) => res.json({ hello: 'world', q: req.query.q, ip: req.ip }));
app.post('/form', (req, res) => res.status(201).set('X-Form', 'yes').send(`name=${req.body.name} age=${req.body.age}`));
app.post('/echo-json', (req, res) => res.json({ got: req.body, type: req.get('content-type') }));
app.get('/cookies', (req, res) => {
  res.cookie('a', '1', { httpOnly: true });
  res.cookie('b', '2', { path: '/x' });
  res.send(`you sent: ${req.get('cookie') || ''}`);
});
app.get('/boom', () => { throw new Error('boom'); });
app.get('/async-boom', async () => { throw new Error('async boom'); });
app.get('/redirect', (req, res) => res.redirect('/json?q=moved'));
app.get('/raw', (req, res) => {
  res.writeHead(202, { 'Content-Type': 'text/plain', 'X-Raw': 'r' });
  res.write('part 1, ');
  res.write(Buffer.from('part 2'));
  res.end();
});
app.use('/static', express.static(new URL('../testing', import.meta.url).pathname));
app.get('/unicode', (req, res) => res.type('text').send('żółć ✓'));
app.use((err, req, res, next) => {
  if (req.path === '/async-boom') return res.status(500).json({ error: err.message });
  next(err);
});


describe('express adapter', () => {
  before(async () => {
    stack = await startStack();
    worker = serveApp(app, { redis: stack.redisUrl, logLevel: 'error', handleSignals: false, concurrency: 2 });
    await worker.start();
  });
  after(async () => {
    await worker?.stop();
    stack?.stop();
  });

  it('res.json, req.query, req.ip', async () => {
    const r = await request(stack.front.http, '/json?q=1');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.deepEqual(JSON.parse(r.body), { hello: 'world', q: '1', ip: '127.0.0.1' });
    assert.ok(r.headers.etag);
  });

  it('express.urlencoded POST, res.status, res.set', async () => {
    const r = await request(stack.front.http, '/form', { method: 'POST', body: 'name=J%C3%B3+Doe&age=42',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.equal(r.status, 201);
    assert.equal(r.headers['x-form'], 'yes');
    assert.equal(r.body.toString(), 'name=Jó Doe age=42');
  });

  it('express.json POST', async () => {
    const r = await request(stack.front.http, '/echo-json', { method: 'POST', body: JSON.stringify({ a: [1, 2], b: 'ü' }),
      headers: { 'Content-Type': 'application/json' } });
    assert.deepEqual(JSON.parse(r.body), { got: { a: [1, 2], b: 'ü' }, type: 'application/json' });
  });

  it('res.cookie twice -> two Set-Cookie fields; the request cookie is seen', async () => {
    const r = await request(stack.front.http, '/cookies', { headers: { Cookie: 'x=9; y=8' } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers['set-cookie'], ['a=1; Path=/; HttpOnly', 'b=2; Path=/x']);
    assert.equal(r.body.toString(), 'you sent: x=9; y=8');
  });

  it('an unknown route -> Express 404', async () => {
    const r = await request(stack.front.http, '/nope');
    assert.equal(r.status, 404);
    assert.match(r.body.toString(), /Cannot GET \/nope/);
  });

  it('a thrown error -> 500 from Express, an async one reaches the error middleware', async () => {
    let r = await request(stack.front.http, '/boom');
    assert.equal(r.status, 500);
    assert.match(r.body.toString(), /Internal Server Error|Error: boom/);
    r = await request(stack.front.http, '/async-boom');
    assert.equal(r.status, 500);
    assert.deepEqual(JSON.parse(r.body), { error: 'async boom' });
  });

  it('express.static streams a file (pipe) into the answer; conditional GET -> 304', async () => {
    const file = readFileSync(new URL('../testing/express_app.mjs', import.meta.url));
    const r = await request(stack.front.http, '/static/express_app.mjs');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, file);
    assert.match(r.headers['content-type'], /javascript/);
    const again = await request(stack.front.http, '/static/express_app.mjs', { headers: { 'If-None-Match': r.headers.etag } });
    assert.equal(again.status, 304);
  });

  it('res.redirect -> 302 with Location', async () => {
    const r = await request(stack.front.http, '/redirect');
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, '/json?q=moved');
  });

  it('writeHead + several writes are collected into one answer; unicode; HEAD has no body', async () => {
    let r = await request(stack.front.http, '/raw');
    assert.equal(r.status, 202);
    assert.equal(r.headers['x-raw'], 'r');
    assert.equal(r.body.toString(), 'part 1, part 2');
    r = await request(stack.front.http, '/unicode');
    assert.equal(r.body.toString(), 'żółć ✓');
    r = await request(stack.front.http, '/json', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
  });
});
