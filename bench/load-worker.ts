// Runs one autocannon load in a worker thread, so the client's HTTP work does not share the event
// loop with the servers being measured. Started by runLoad() in load.ts; answers with a LoadResult.
import { parentPort, workerData } from 'node:worker_threads';
import autocannon from 'autocannon';
import type { LoadJob, LoadResult } from './load';

const SQL_HEADER = 'x-custos-sql-statements';

async function main(job: LoadJob): Promise<LoadResult> {
  let ok = 0;
  let bad = 0;
  let firstBad: string | null = null;
  let sqlTotal = 0;
  let sqlSeen = 0;
  const opts: autocannon.Options = {
    url: job.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${job.token}` },
    body: job.body,
    connections: job.connections,
    duration: job.seconds,
    timeout: 30,
    requests: [{
      onResponse(status, body, _context, headers) {
        // Cheap check on every answer: HTTP 200 and no GraphQL errors. The full check ran before the load.
        if (status === 200 && !body.includes('"errors"')) ok++;
        else {
          bad++;
          firstBad ??= `HTTP ${status}: ${body.slice(0, 300)}`;
        }
        const sql = headers[SQL_HEADER] ?? headers[SQL_HEADER.toUpperCase()];
        if (sql !== undefined) {
          sqlTotal += Number(sql);
          sqlSeen++;
        }
      },
    }],
  };
  const raw = await autocannon(opts);
  const result = 'latency' in raw ? raw : autocannon.aggregateResult([raw], opts);
  return {
    seconds: result.duration,
    ok,
    bad,
    firstBad,
    connectionErrors: result.errors,
    timeouts: result.timeouts,
    requestsPerSecond: ok / result.duration,
    latencyMs: { mean: result.latency.mean, p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    sqlPerRequest: sqlSeen ? sqlTotal / sqlSeen : null,
  };
}

main(workerData as LoadJob).then(
  (result) => parentPort!.postMessage({ result }),
  (err: unknown) => parentPort!.postMessage({ error: err instanceof Error ? err.stack ?? err.message : String(err) }),
);
