import { GraphQLError } from 'graphql';

/** Stable error codes: clients branch on these, never on messages. */
export enum ErrorCode {
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.SERVICE_UNAVAILABLE]: 503,
};

/** A domain error with a stable code. Services throw these; the server maps them to GraphQL errors. */
export class AppError extends GraphQLError {
  constructor(readonly code: ErrorCode, message: string, details?: Record<string, unknown>) {
    const status = HTTP_STATUS[code];
    super(message, { extensions: { code, ...details, ...(status ? { http: { status } } : {}) } });
    this.name = 'AppError';
  }
}

export const unauthenticated = (message = 'A valid bearer token is required.') =>
  new AppError(ErrorCode.UNAUTHENTICATED, message);

export const forbidden = (message = 'You may not perform this operation.') => new AppError(ErrorCode.FORBIDDEN, message);

/** Same answer for a missing row and another tenant's row: no hint that a foreign id exists. */
export const notFound = (what: string) => new AppError(ErrorCode.NOT_FOUND, `${what} not found.`);

export const badInput = (message: string, field?: string) =>
  new AppError(ErrorCode.BAD_USER_INPUT, message, field ? { field } : undefined);

/** A value that must be unique already exists: the caller's input is what must change. */
export const duplicate = (message: string, field: string) =>
  new AppError(ErrorCode.BAD_USER_INPUT, message, { field, reason: 'DUPLICATE' });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: string): boolean => UUID.test(value);

/** A required free text (a reason, say): trimmed, not blank, and within what the database column accepts. */
export function requiredText(raw: string, field: string, max = 2000): string {
  const text = raw.trim();
  if (!text || text.length > max) throw badInput(`${field} must be 1 to ${max} characters.`, field);
  return text;
}

/** Ids are UUIDs; anything else is a malformed argument rather than a lookup. */
export function parseId(id: string, field = 'id'): string {
  if (!UUID.test(id)) throw badInput(`${field} is not a valid id.`, field);
  return id.toLowerCase();
}
