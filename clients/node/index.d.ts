// Types of tempest-worker (hand-written; the sources are plain ESM JavaScript in src/).
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

export interface WorkerOptions {
  /** redis://[[user]:password@]host[:port][/db] or unix:/path[?db=N]; default $TEMPEST_REDIS, else redis://127.0.0.1:6379/0 */
  redis?: string;
  /** The queue the front pushes on (default "tempest"). */
  queue?: string;
  /** "reliable" (default, at-least-once: take.lua, heartbeat, reaper) or "plain" (BLMPOP, at-most-once). */
  mode?: 'reliable' | 'plain';
  /** Handlers run at once: that many lanes, each with its own Redis connection (default 1). */
  concurrency?: number;
  /** Most jobs a lane takes per round trip (default 128; sized down by the measured time per job). */
  batch?: number;
  /** Milliseconds of work a take aims at (default 1). */
  batchTime?: number;
  /** Reliable: the heartbeat key's lifetime in ms, refreshed every third of it (default 3000). */
  heartbeatTtl?: number;
  /** Reliable: worker deaths after which a job goes to <queue>:dead (default 3). */
  maxAttempts?: number;
  /** Answer endpoints answered though no front announces them (fronts that announce nothing). */
  answerAllow?: string[] | string;
  /** AUTH password of the answer endpoints (default $TEMPEST_ANSWER_PASSWORD). */
  answerPassword?: string;
  /** ms to connect to an answer endpoint before it is marked down for 1 s (default 500). */
  answerConnectTimeout?: number;
  /** ms an answer may stay unacknowledged before its endpoint is marked down (default 5000). */
  answerTimeout?: number;
  /** ms a lane waits for the replies to a batch's answers before its next take (default 100). */
  answerReplyWait?: number;
  /** Unacknowledged answer bytes per endpoint before it is marked down (default 8 MiB). */
  answerBuffer?: number;
  /** debug, info (default), warn, error, off. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'off';
  /** Where log lines go when nobody listens to the "log" event (default: stderr). */
  logger?: (level: string, message: string) => void;
  /** run() stops the worker on SIGTERM and SIGINT (default true). */
  handleSignals?: boolean;
}

export type HeaderValue = string | number | Array<string | number>;
export type Headers = Record<string, HeaderValue> | Map<string, HeaderValue> | Array<[string, HeaderValue]>;
export type Body = string | Buffer | Uint8Array | ArrayBuffer | null | undefined;

/** What a "url" handler returns. */
export type UrlResult =
  | { status?: number | string; headers?: Headers; body?: Body | object }
  | [status: number | string, headers?: Headers, body?: Body]
  | string
  | Buffer
  | Uint8Array
  | null
  | undefined;

export interface Job {
  action: string;
  args: unknown[];
  /** "host:port" of the answer endpoint; "" when nobody wants an answer. */
  respondTo: string;
  id: number;
  /** The job exactly as queued. */
  payload: string;
}

/** The HTTP request of a "url" job (docs/protocol.md 1.3). */
export class Request {
  method: string;
  /** The request target as received. */
  url: string;
  /** The normalised path (derived from url for 2012-format jobs). */
  path: string;
  query: string;
  /** Lower-case names; repeated fields joined with ", " ("; " for cookie). */
  headers: Record<string, string>;
  /** The raw bytes; null when the request had no body. */
  body: Buffer | null;
  remoteAddr: string;
  httpVersion: string;
  priority: 'high' | 'normal' | 'low' | string;
  /** Unix ms after which nobody waits; null when the job has none. */
  deadline: number | null;
  /** Whether re-delivering after a worker death is safe; null for 2012-format jobs. */
  retry: boolean | null;
  jobId: number;
  respondTo: string;
  job: Job;
  header(name: string): string;
  queryParam(name: string): string | null;
  text(): string;
  json(): unknown;
  /** Aborts at the deadline (never when the job has none): pass it to fetch, timers, streams. */
  readonly signal: AbortSignal;
  /** Deadline passed, or the front cancelled the job (one Redis round trip). */
  cancelled(): Promise<boolean>;
}

export interface JobHandle extends Job {
  /** Sends one answer `<action> <id> <json>` (several are allowed). */
  answer(value: unknown): void;
}

export type UrlHandler = (req: Request) => UrlResult | Promise<UrlResult>;
export type JobHandler = (args: unknown[], job: JobHandle) => unknown;

export interface WorkerStats {
  handled: number;
  /** Dropped unstarted: their deadline had passed. */
  expired: number;
  /** Dropped unhandled: respond_to neither announced nor allowed. */
  untrusted: number;
  /** Dropped unstarted: the front cancelled them. */
  cancelled: number;
  /** Handlers that threw. */
  failed: number;
  /** Answers dropped because their endpoint was down or hung. */
  droppedAnswers: number;
  /** Answers the front replied an error to (-ERR invalid answer, unknown job, -NOAUTH ...). */
  refusedAnswers: number;
}

export interface PublishOptions {
  /** The SSE event name (default none: "message"). */
  event?: string;
  /** Entries kept in tempest:history:<channel>; 0 = live only (default 1000). */
  historyCount?: number;
  /** ms after which entries are trimmed and the key expires; 0 = no limit (default 3600000). */
  historyAge?: number;
}

export declare const reservedEvents: Set<string>;
export declare const defaults: Readonly<Required<Omit<WorkerOptions, 'redis' | 'answerPassword' | 'logger'>>>;

export class Worker extends EventEmitter {
  constructor(options?: WorkerOptions);
  readonly options: Required<Omit<WorkerOptions, 'logger'>> & { logger?: WorkerOptions['logger'] };
  readonly stats: WorkerStats;
  /** Reliable mode: the lane ids "<host>:<pid>:<lane>" (after start()). */
  readonly ids: string[];
  /** The handler of an action, for any name (on() does the same for names that are not reserved). */
  handle(action: 'url', fn: UrlHandler): this;
  handle(action: string, fn: JobHandler): this;
  on(action: 'url', fn: UrlHandler): this;
  on(event: 'ready' | 'stop', fn: () => void): this;
  on(event: 'log', fn: (level: string, message: string) => void): this;
  on(action: string, fn: JobHandler): this;
  start(): Promise<void>;
  /** start(), then until stopped (stop(), SIGTERM, SIGINT). Resolves 0. */
  run(): Promise<number>;
  /** A clean stop: the jobs taken are handled and answered first. */
  stop(): Promise<void>;
  /** A Server-Sent Event to /sub/<channel>, recorded in its history; resolves the entry id. */
  publish(channel: string, data: string | Buffer | unknown, options?: PublishOptions): Promise<string>;
}

export class Publisher {
  constructor(redis: Redis, options?: { historyCount?: number; historyAge?: number });
  publish(channel: string, data: string | Buffer | unknown, options?: PublishOptions): Promise<string>;
}

export declare function historyKey(channel: string): string;
export declare function decodeJob(payload: string): Job;
export declare function encodeUrlAnswer(result: UrlResult): { json: string; dropped: number; badStatus: boolean };
/** Worker options from the standard flags (--redis --queue --mode --concurrency ...); exits on --help or a bad flag. */
export declare function optionsFromArgs(args: string[], description: string, extra?: Record<string, unknown>): WorkerOptions & { extra?: Record<string, unknown> };
export declare function parseWorkerArgs(args: string[], extra?: Record<string, unknown>): { options: WorkerOptions; help: boolean; extra: Record<string, unknown> };
export declare function usage(program: string, description: string, extra?: Record<string, unknown>): string;
/** Where the .lua scripts are read from. */
export declare function scriptsDir(): string;
export declare function loadScript(name: string): { name: string; source: string; sha: string };
export declare function connectRedis(url: string, name?: string, extra?: object): Redis;
export declare function redisOptions(url: string): object;
export declare const keys: {
  lists(queue: string): [string, string, string];
  bell(queue: string): string;
  dead(queue: string): string;
  attempts(queue: string): string;
  workers: string;
  heartbeat(id: string): string;
  processing(id: string): string;
  wake(id: string): string;
  cancelled: string;
  bellKeep: number;
};
