// Types of tempest-worker/express.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, UrlHandler, Worker, WorkerOptions } from './index.js';

/** Any Express / Connect app, or a plain Node request listener. */
export type App = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => unknown;

export interface AdapterOptions {
  /** ms the app may take when a job has no deadline (default 30000). */
  timeout?: number;
}

declare module 'node:http' {
  interface IncomingMessage {
    /** Set by tempest-worker/express: the Tempest request this message was built from. */
    tempest?: Request;
  }
}

/** A "url" handler that runs app for each request and answers what it wrote. */
export declare function expressHandler(app: App, options?: AdapterOptions): UrlHandler;
/** A Worker whose "url" jobs run app. */
export declare function serveApp(app: App, options?: WorkerOptions & AdapterOptions): Worker;
