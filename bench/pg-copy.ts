import { once } from 'node:events';
import type pg from 'pg';

/** The parts of pg's internal Connection a copy-in needs (pg calls a Submittable with it). */
interface PgConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: NodeJS.WritableStream & { writableNeedDrain?: boolean };
}

/**
 * `COPY … FROM STDIN` as a pg "Submittable" (the interface pg-cursor and pg-copy-streams use): pg hands
 * us its connection when the statement's turn comes and forwards the server's messages to the handlers
 * below. The data comes from an async iterable, written with back-pressure (we wait for 'drain').
 */
class CopyFromStdin {
  callback?: (err: Error | null, rows?: number) => void;
  private rows = 0;
  private finished = false;

  constructor(private readonly text: string, private readonly source: AsyncIterable<Buffer> | Iterable<Buffer>) {}

  submit(connection: PgConnection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: PgConnection): void {
    void this.pump(connection);
  }

  private async pump(connection: PgConnection): Promise<void> {
    try {
      for await (const chunk of this.source) {
        if (this.finished) return; // the server refused the data already (handleError)
        connection.sendCopyFromChunk(chunk);
        if (connection.stream.writableNeedDrain) await once(connection.stream, 'drain');
      }
      connection.endCopyFrom();
    } catch (err) {
      // The data source failed: abort the COPY; the server answers with an error, then ReadyForQuery.
      connection.sendCopyFail(err instanceof Error ? err.message : String(err));
      this.finish(err instanceof Error ? err : new Error(String(err)));
    }
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /^COPY (\d+)/.exec(msg.text ?? '');
    if (m) this.rows = Number(m[1]);
  }

  handleReadyForQuery(): void {
    this.finish(null);
  }

  handleError(err: Error): void {
    this.finish(err); // no-op when the source failed first: that error was reported
  }

  private finish(err: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    this.callback?.(err, this.rows);
  }

  // Messages a COPY FROM never gets.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/** Runs `sql` (a `COPY … FROM STDIN`) on `client`, sending `source`'s chunks; resolves with the rows copied. */
export function copyFrom(client: pg.Client, sql: string, source: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<number> {
  return new Promise((resolve, reject) => {
    const copy = new CopyFromStdin(sql, source);
    copy.callback = (err, rows) => (err ? reject(err) : resolve(rows ?? 0));
    client.query(copy as unknown as pg.Submittable);
  });
}

/** PostgreSQL's binary COPY format: signature, flags, header extension length; a -1 field count ends it. */
export const BINARY_COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
export const BINARY_COPY_TRAILER = Buffer.from([0xff, 0xff]);
