// The standard worker flags, as every Tempest worker program takes them (docs/protocol.md 5.2;
// the C++ ones: src/worker/worker_options.cpp):
//   --redis URL (default $TEMPEST_REDIS)  --queue NAME (tempest)  --mode reliable|plain  --plain
//   --concurrency N  --batch N  --heartbeat-ttl MS  --max-attempts N
//   --answer-allow HOST:PORT,...  --answer-password TEXT (default $TEMPEST_ANSWER_PASSWORD)
//   --answer-timeout MS  --answer-connect-timeout MS  --log-level debug|info|warn|error|off
//
//   const options = optionsFromArgs(process.argv.slice(2), 'Says hello');  // exits 2 on a bad flag
import { parseArgs } from 'node:util';
import { splitHostPort } from './answers.js';
import { redisOptions } from './redis.js';
import { defaults } from './worker.js';

const flags = {
  redis: { type: 'string', help: 'Redis URL (default $TEMPEST_REDIS, else redis://127.0.0.1:6379/0)' },
  queue: { type: 'string', help: `queue name (default ${defaults.queue})` },
  mode: { type: 'string', help: 'reliable (default, at-least-once) or plain (BLMPOP, at-most-once)' },
  plain: { type: 'boolean', help: 'the same as --mode plain' },
  concurrency: { type: 'string', help: 'handlers run at once (default 1)' },
  batch: { type: 'string', help: `most jobs per take (default ${defaults.batch})` },
  'heartbeat-ttl': { type: 'string', help: `reliable: heartbeat key lifetime in ms (default ${defaults.heartbeatTtl})` },
  'max-attempts': { type: 'string', help: `reliable: worker deaths before a job is dead-lettered (default ${defaults.maxAttempts})` },
  'answer-allow': { type: 'string', help: 'answer endpoints answered though not announced (host:port,...)' },
  'answer-password': { type: 'string', help: 'AUTH password of the answer endpoints (default $TEMPEST_ANSWER_PASSWORD)' },
  'answer-timeout': { type: 'string', help: `ms an answer may stay unacknowledged (default ${defaults.answerTimeout})` },
  'answer-connect-timeout': { type: 'string', help: `ms to connect to an answer endpoint (default ${defaults.answerConnectTimeout})` },
  'log-level': { type: 'string', help: 'debug, info, warn, error or off (default info)' },
  help: { type: 'boolean', short: 'h', help: 'print this help and exit' },
};

function integer(name, text, min) {
  if (!/^\d+$/.test(text) || Number(text) < min) throw new Error(`--${name}: an integer >= ${min}, not '${text}'`);
  return Number(text);
}

// Worker options from command-line arguments; extra: more parseArgs options, returned in
// `extra` of the result. Throws on a bad flag (optionsFromArgs prints and exits instead).
// positionals: how many positional arguments are allowed (returned in `positionals`).
export function parseWorkerArgs(args, extra = {}, positionals = 0) {
  const parsed = parseArgs({ args, options: { ...flags, ...extra }, allowPositionals: positionals > 0, strict: true });
  const { values } = parsed;
  if (parsed.positionals.length > positionals) throw new Error(`unexpected argument '${parsed.positionals[positionals]}'`);
  const o = {};
  if (values.redis !== undefined) o.redis = values.redis;
  if (values.queue !== undefined) o.queue = values.queue;
  if (values.mode !== undefined) {
    if (values.mode !== 'reliable' && values.mode !== 'plain') throw new Error(`--mode: reliable or plain, not '${values.mode}'`);
    o.mode = values.mode;
  }
  if (values.plain) o.mode = 'plain';
  if (values.concurrency !== undefined) o.concurrency = integer('concurrency', values.concurrency, 1);
  if (values.batch !== undefined) o.batch = integer('batch', values.batch, 1);
  if (values['heartbeat-ttl'] !== undefined) o.heartbeatTtl = integer('heartbeat-ttl', values['heartbeat-ttl'], 3);
  if (values['max-attempts'] !== undefined) o.maxAttempts = integer('max-attempts', values['max-attempts'], 1);
  if (values['answer-allow'] !== undefined) {
    o.answerAllow = values['answer-allow'].split(',').map((s) => s.trim()).filter(Boolean);
    for (const a of o.answerAllow) if (!splitHostPort(a)) throw new Error(`--answer-allow: '${a}' is not host:port`);
  }
  if (values['answer-password'] !== undefined) o.answerPassword = values['answer-password'];
  if (values['answer-timeout'] !== undefined) o.answerTimeout = integer('answer-timeout', values['answer-timeout'], 1);
  if (values['answer-connect-timeout'] !== undefined) o.answerConnectTimeout = integer('answer-connect-timeout', values['answer-connect-timeout'], 1);
  if (values['log-level'] !== undefined) {
    if (!['debug', 'info', 'warn', 'error', 'off'].includes(values['log-level']))
      throw new Error(`--log-level: debug, info, warn, error or off, not '${values['log-level']}'`);
    o.logLevel = values['log-level'];
  }
  if (o.redis !== undefined) redisOptions(o.redis);  // throws naming what is wrong
  const rest = {};
  for (const k of Object.keys(extra)) if (values[k] !== undefined) rest[k] = values[k];
  return { options: o, help: Boolean(values.help), extra: rest, positionals: parsed.positionals };
}

export function usage(program, description, extra = {}, args = '') {
  const lines = [`Usage: ${program} [OPTIONS]${args ? ` ${args}` : ''}`, '', description, '', 'Options:'];
  for (const [name, f] of Object.entries({ ...flags, ...extra })) {
    const arg = f.type === 'string' ? ` ${name === 'redis' ? 'URL' : 'VALUE'}` : '';
    lines.push(`  --${name}${arg}`.padEnd(34) + (f.help || ''));
  }
  return lines.join('\n') + '\n';
}

// As parseWorkerArgs; --help prints the usage and exits 0, a bad flag prints one line and exits 2.
// With o.positionals = ['APP'] (names, all required), the result's `positionals` holds them.
export function optionsFromArgs(args, description, extra = {}, o = {}) {
  const program = process.argv[1] ? process.argv[1].split('/').pop() : 'worker';
  const names = o.positionals || [];
  let r;
  try {
    r = parseWorkerArgs(args, extra, names.length);
    if (!r.help && r.positionals.length < names.length) throw new Error(`missing ${names[r.positionals.length]}`);
  } catch (e) {
    process.stderr.write(`${program}: ${e.message} (see --help)\n`);
    process.exit(2);
  }
  if (r.help) {
    process.stdout.write(usage(program, description, extra, names.join(' ')));
    process.exit(0);
  }
  return Object.assign(r.options, Object.keys(extra).length ? { extra: r.extra } : {},
    names.length ? { positionals: r.positionals } : {});
}
