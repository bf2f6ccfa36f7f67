/**
 * Where an import's CSV files come from — a folder, a ZIP, or files handed over in memory (the GraphQL
 * mutation) — and reading one of them row by row. Files are streamed: a row is parsed, checked and
 * handed on before the next is read, so memory does not grow with a file's size.
 */
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { fromBufferPromise, openPromise } from 'yauzl';
import type { RowError } from './oneroster';

/** A set of OneRoster files by name (e.g. "users.csv"). */
export interface RosterSource {
  /** Shown in results and recorded with the import (a folder or file name, never its full contents). */
  label: string;
  names(): string[];
  open(name: string): Promise<Readable>;
  close(): Promise<void>;
}

export interface ReadLimits {
  /** Largest file accepted, in bytes (uncompressed). */
  maxFileBytes: number;
}

export const DEFAULT_LIMITS: ReadLimits = { maxFileBytes: 200 * 1024 * 1024 };

/** A folder of CSV files, or a ZIP of them (found at its top level or in one folder inside it). */
export async function openRosterPath(target: string): Promise<RosterSource> {
  const stat = await fs.stat(target).catch(() => null);
  if (!stat) throw new Error(`${target} does not exist`);
  if (stat.isDirectory()) {
    const names = (await fs.readdir(target, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
    return {
      label: path.basename(path.resolve(target)),
      names: () => names,
      open: async (name) => createReadStream(path.join(target, name)),
      close: async () => undefined,
    };
  }
  return openRosterZip(await openPromise(target, { autoClose: false, lazyEntries: true }), path.basename(target));
}

/** A ZIP already in memory (the GraphQL mutation's upload). */
export async function openRosterZipBuffer(data: Buffer, label: string): Promise<RosterSource> {
  return openRosterZip(await fromBufferPromise(data, { autoClose: false, lazyEntries: true }), label);
}

async function openRosterZip(zip: Awaited<ReturnType<typeof openPromise>>, label: string): Promise<RosterSource> {
  const entries = new Map<string, Parameters<typeof zip.openReadStreamPromise>[0]>();
  for await (const entry of zip.eachEntry()) {
    if (entry.fileName.endsWith('/')) continue;
    const base = entry.fileName.split('/').pop()!;
    // Files at the top level, or inside one folder (how most tools zip a folder); __MACOSX copies are ignored.
    if (entry.fileName.startsWith('__MACOSX/') || entry.fileName.split('/').length > 2) continue;
    if (!entries.has(base)) entries.set(base, entry);
  }
  return {
    label,
    names: () => [...entries.keys()],
    open: async (name) => {
      const entry = entries.get(name);
      if (!entry) throw new Error(`${name} is not in the archive`);
      return (await zip.openReadStreamPromise(entry)) as Readable;
    },
    close: async () => zip.close(),
  };
}

/** Files handed over as text (strings are UTF-8). */
export function rosterFromFiles(files: { name: string; content: string }[], label: string): RosterSource {
  const byName = new Map(files.map((f) => [f.name, f.content]));
  return {
    label,
    names: () => [...byName.keys()],
    open: async (name) => Readable.from([Buffer.from(byName.get(name) ?? '', 'utf8')]),
    close: async () => undefined,
  };
}

export interface CsvRow {
  /** 1-based line where the row starts. */
  line: number;
  /** Trimmed value of a column by header name; '' when empty or absent. */
  cell: (column: string) => string;
}

/**
 * Reads a CSV file: checks its header has every column of `columns` (extra ones, such as `metadata.*`,
 * are allowed), then yields each row. A row with more cells than the header is an error unless the
 * extra cells are empty (some exports end rows with a stray comma); a row with fewer is read with the
 * missing cells empty. Returns without yielding after reporting a file-level problem (a missing column,
 * bad quoting, a file over the size limit).
 */
export async function* readCsv(stream: Readable, file: string, columns: readonly string[], limits: ReadLimits,
  report: (e: RowError) => void): AsyncGenerator<CsvRow> {
  let bytes = 0;
  const counted = stream.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > limits.maxFileBytes) stream.destroy(new TooLarge());
  });
  const parser = counted.pipe(parse({
    bom: true, info: true, relax_column_count: true, skip_empty_lines: true, max_record_size: 64 * 1024,
  }));
  stream.on('error', (err) => parser.destroy(err));
  let header: string[] | null = null;
  let index = new Map<string, number>();
  let lastLine = 0;
  let emptyLines = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number; empty_lines: number } }>) {
      const line = lastLine + 1 + (info.empty_lines - emptyLines);
      lastLine = info.lines;
      emptyLines = info.empty_lines;
      if (!header) {
        header = record.map((h) => h.trim());
        const missing = columns.filter((c) => !header!.includes(c));
        if (missing.length) {
          report({ file, line, sourcedId: null, code: 'MISSING_COLUMN', message: `the header lacks ${missing.join(', ')}` });
          return;
        }
        index = new Map(header.map((h, i) => [h, i]));
        continue;
      }
      if (record.length > header.length && record.slice(header.length).some((v) => v.trim() !== '')) {
        report({ file, line, sourcedId: record[index.get('sourcedId') ?? 0] || null, code: 'MALFORMED_ROW',
          message: `the row has ${record.length} cells, the header ${header.length}` });
        continue;
      }
      const cells = record;
      yield { line, cell: (column) => (cells[index.get(column) ?? -1] ?? '').trim() };
    }
    if (!header) report({ file, line: null, sourcedId: null, code: 'MALFORMED_CSV', message: 'the file is empty: it needs a header row' });
  } catch (err) {
    if (err instanceof TooLarge || bytes > limits.maxFileBytes) {
      report({ file, line: null, sourcedId: null, code: 'FILE_TOO_LARGE', message: `the file is larger than ${limits.maxFileBytes} bytes` });
    } else {
      const message = err instanceof Error ? err.message.replace(/^Invalid (Record|Opening Quote|Closing Quote)[^:]*: /, '') : String(err);
      report({ file, line: lastLine + 1, sourcedId: null, code: 'MALFORMED_CSV', message: `the file is not valid CSV: ${message.slice(0, 200)}` });
    }
  } finally {
    stream.destroy();
  }
}

class TooLarge extends Error {}
