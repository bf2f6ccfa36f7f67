import { ArgsType, Field, Int, ObjectType, type ClassType } from 'type-graphql';
import { badInput, isUuid } from './errors';
import { NoPersonalData } from '../privacy/classify';

/** `first`/`after` arguments shared by every list. Bounds are checked against configuration in `pageRequest`. */
@ArgsType()
export class PageArgs {
  @Field(() => Int, { nullable: true, description: 'Page size (at most the server\'s maximum page size).' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'Cursor of the last item of the previous page.' })
  after?: string | null;
}

export type CursorValue = string | number;

export interface PageRequest {
  first: number;
  after: CursorValue[] | null;
}

export interface PageLimits {
  defaultPageSize: number;
  maxPageSize: number;
}

/** Cursors are opaque to clients: base64url of the sort-key values of the row. */
export function encodeCursor(values: CursorValue[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/**
 * What one position of a cursor holds: a uuid, a timestamp as written by `dateKey`, any text, or one of
 * a fixed set of values (an enum). Checked before a value reaches SQL, so a forged cursor is the
 * caller's error (BAD_USER_INPUT) and never a failed cast in the database. A bare number checks only
 * the arity and that each value is a string or a finite number.
 */
export type CursorPart = 'uuid' | 'timestamp' | 'text' | readonly string[];
export type CursorShape = number | readonly CursorPart[];

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function fitsPart(value: CursorValue, part: CursorPart): boolean {
  if (typeof value !== 'string') return false;
  if (part === 'uuid') return isUuid(value);
  if (part === 'timestamp') return ISO_TIMESTAMP.test(value) && !Number.isNaN(Date.parse(value));
  if (part === 'text') return true;
  return part.includes(value);
}

export function decodeCursor(cursor: string, shape: CursorShape): CursorValue[] {
  const malformed = () => badInput('The cursor is malformed; pass a cursor returned by this list.', 'after');
  const arity = typeof shape === 'number' ? shape : shape.length;
  if (cursor.length > 512 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw malformed();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw malformed();
  }
  if (!Array.isArray(parsed) || parsed.length !== arity ||
      !parsed.every((v) => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)))) {
    throw malformed();
  }
  if (typeof shape !== 'number' && !parsed.every((v, i) => fitsPart(v as CursorValue, shape[i]))) throw malformed();
  return parsed as CursorValue[];
}

/** Validates page arguments against the configured bounds. */
export function pageRequest(args: PageArgs, limits: PageLimits, cursorShape: CursorShape): PageRequest {
  const first = args.first ?? limits.defaultPageSize;
  if (!Number.isInteger(first) || first < 1 || first > limits.maxPageSize) {
    throw badInput(`first must be between 1 and ${limits.maxPageSize}.`, 'first');
  }
  return { first, after: args.after ? decodeCursor(args.after, cursorShape) : null };
}

/** Cursor shapes of the lists. */
export const CURSOR = {
  /** Users: the id only; the sort key is read back from the row. */
  byId: ['uuid'],
  /** Lists ordered by creation time, then id (feed, comments, a member's enrollments). */
  byTime: ['timestamp', 'uuid'],
  /** Courses: code, then id. */
  byCode: ['text', 'uuid'],
  /** Roster: course role, enrollment time, id. */
  roster: [['INSTRUCTOR', 'STUDENT'], 'timestamp', 'uuid'],
} as const satisfies Record<string, readonly CursorPart[]>;

export interface Edge<T> {
  cursor: string;
  node: T;
}

export interface PageInfoShape {
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface ConnectionShape<T> {
  edges: Edge<T>[];
  pageInfo: PageInfoShape;
  /** Where the connection came from, so `totalCount` can be counted lazily (and in batches). */
  countKey?: unknown;
}

/** Builds a connection from `first + 1` fetched rows: the extra row only says whether a next page exists. */
export function toConnection<T>(rows: T[], first: number, cursorOf: (row: T) => CursorValue[], countKey?: unknown): ConnectionShape<T> {
  const hasNextPage = rows.length > first;
  const page = hasNextPage ? rows.slice(0, first) : rows;
  const edges = page.map((node) => ({ node, cursor: encodeCursor(cursorOf(node)) }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.length ? edges[edges.length - 1].cursor : null }, countKey };
}

@NoPersonalData()
@ObjectType({ description: 'Relay page information.' })
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

/** Creates the `XEdge` and `XConnection` object types for a node type. */
export function connectionTypes<T extends object>(node: ClassType<T>, name: string) {
  @NoPersonalData()
  @ObjectType(`${name}Edge`)
  class EdgeType {
    @Field(() => String)
    cursor!: string;

    @Field(() => node)
    node!: T;
  }

  @NoPersonalData()
  @ObjectType(`${name}Connection`)
  class ConnectionType {
    @Field(() => [EdgeType])
    edges!: EdgeType[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;
  }
  return ConnectionType;
}

/** Renders a Date as a cursor value with millisecond precision (timestamps are stored as timestamptz(3)). */
export const dateKey = (d: Date): string => d.toISOString();
