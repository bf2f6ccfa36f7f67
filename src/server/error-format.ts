import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { ArgumentValidationError } from 'type-graphql';
import { ConnectionException, DriverException } from '@mikro-orm/core';
import { AppError, ErrorCode } from '../shared/errors';
import type { Logger } from '../shared/logger';

/** Flattens class-validator errors into one readable sentence per field. */
function validationMessage(err: ArgumentValidationError): { message: string; fields: string[] } {
  const messages: string[] = [];
  const fields: string[] = [];
  const walk = (errors: ArgumentValidationError['extensions']['validationErrors'], prefix: string) => {
    for (const e of errors ?? []) {
      const field = prefix ? `${prefix}.${e.property}` : e.property;
      if (e.constraints) {
        fields.push(field);
        messages.push(...Object.values(e.constraints));
      }
      walk(e.children as never, field);
    }
  };
  walk(err.extensions.validationErrors, '');
  return { message: `Invalid input: ${messages.join('; ')}.`, fields };
}

/**
 * The one place errors become what clients see. Domain errors keep their code and message;
 * GraphQL's own request errors pass through; anything unexpected is logged with the request id and
 * answered with a bare INTERNAL_SERVER_ERROR, so no internals (SQL, stack, schema) leave the server.
 */
export function createErrorFormatter(log: Logger, exposeDetails: boolean) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const path = formatted.path;
    if (original instanceof AppError) {
      const { http: _http, ...extensions } = original.extensions as Record<string, unknown>;
      return { message: original.message, path, locations: formatted.locations, extensions };
    }
    if (original instanceof ArgumentValidationError) {
      const { message, fields } = validationMessage(original);
      return { message, path, extensions: { code: ErrorCode.BAD_USER_INPUT, fields } };
    }
    if (original instanceof ConnectionException) {
      log.error({ err: original }, 'database unreachable');
      return { message: 'The database is unavailable; retry shortly.', path, extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, retryable: true } };
    }
    if (original instanceof GraphQLError && !(original instanceof DriverException) && formatted.extensions?.code !== 'INTERNAL_SERVER_ERROR') {
      // Parse, validation and variable-coercion errors: the client's request is what is wrong.
      const { stacktrace: _s, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions: exposeDetails ? formatted.extensions : extensions };
    }
    log.error({ err: original, path }, 'unexpected error');
    return {
      message: 'Internal server error.',
      path,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, ...(exposeDetails ? { detail: String((original as Error)?.message ?? original) } : {}) },
    };
  };
}
