// Redis connections (ioredis) from a Tempest Redis URL (docs/protocol.md 5.2):
//   redis://[[user]:password@]host[:port][/db]   unix:/path[?db=N]
// Default: $TEMPEST_REDIS, else redis://127.0.0.1:6379/0.
//
//   const r = connect(url, 'w0');   // one connection; reconnects by itself (100 ms doubling to 500 ms)
//
// Commands on a lost connection fail at once (no offline queue kept across an outage, one try
// per command): the caller logs once and retries, as the C++ lanes do.
import Redis from 'ioredis';

export const defaultRedisUrl = () => process.env.TEMPEST_REDIS || 'redis://127.0.0.1:6379/0';

export function redisOptions(url) {
  if (url.startsWith('unix:')) {
    const u = new URL(url.replace(/^unix:/, 'unix://localhost'));
    return { path: decodeURIComponent(u.pathname), db: Number(u.searchParams.get('db') || 0) };
  }
  let u;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`bad Redis URL '${url}' (redis://[[user]:password@]host[:port][/db] or unix:/path[?db=N])`);
  }
  if (u.protocol !== 'redis:') throw new Error(`bad Redis URL '${url}': the scheme must be redis: or unix:`);
  const o = { host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(u.port || 6379) };
  if (u.username) o.username = decodeURIComponent(u.username);
  if (u.password) o.password = decodeURIComponent(u.password);
  const db = u.pathname.replace(/^\//, '');
  if (db) {
    if (!/^\d+$/.test(db)) throw new Error(`bad Redis URL '${url}': the db must be a number`);
    o.db = Number(db);
  }
  return o;
}

// The URL without its password, for logs.
export function redactUrl(url) {
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
}

export function connect(url, name, extra = {}) {
  return new Redis({
    ...redisOptions(url),
    connectionName: undefined,
    lazyConnect: false,
    enableReadyCheck: true,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(100 * 2 ** (times - 1), 500),
    connectTimeout: 2000,
    ...extra,
  });
}

// A Redis error's text for a log line (ioredis's "max retries per request" means: unreachable).
export function redisError(e) {
  if (e && e.name === 'MaxRetriesPerRequestError') return 'Redis is unreachable';
  return e && e.message ? e.message : String(e);
}
