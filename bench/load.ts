import path from 'node:path';
import { Worker } from 'node:worker_threads';

/** One timed load against one GraphQL endpoint: the same request, from `connections` clients at once. */
export interface LoadJob {
  url: string;
  /** The JSON request body ({query, variables}). */
  body: string;
  token: string;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  /** Measured duration. */
  seconds: number;
  /** Answers with HTTP 200 and no GraphQL errors. */
  ok: number;
  /** Any other answer (counted, not in requestsPerSecond). */
  bad: number;
  firstBad: string | null;
  connectionErrors: number;
  timeouts: number;
  /** Good answers per second. */
  requestsPerSecond: number;
  latencyMs: { mean: number; p50: number; p99: number; max: number };
  /** Mean of the x-custos-sql-statements header; null when the server does not send it. */
  sqlPerRequest: number | null;
}

/** Runs the load in a worker thread (see load-worker.ts). `signal` stops it early (Ctrl-C). */
export function runLoad(job: LoadJob, signal?: AbortSignal): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(path.join(__dirname, 'load-worker.js'), { workerData: job });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => {
      void worker.terminate();
      settle(() => reject(new Error('interrupted')));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort);
    worker.once('message', (msg: { result?: LoadResult; error?: string }) => {
      settle(() => (msg.result ? resolve(msg.result) : reject(new Error(`load worker failed: ${msg.error}`))));
    });
    worker.once('error', (err) => settle(() => reject(err)));
    worker.once('exit', (code) => settle(() => reject(new Error(`load worker exited with code ${code} before answering`))));
  });
}
