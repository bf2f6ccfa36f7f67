import pino from 'pino';

/**
 * Structured JSON logs. Personal data never goes here: log ids, codes and counts only.
 * The redact list is a second line of defence for fields that must never be printed.
 */
export function createLogger(level: string) {
  return pino({
    level,
    base: { service: 'custos' },
    redact: {
      paths: ['req.headers.authorization', 'authorization', 'token', 'email', '*.email', 'password'],
      censor: '[redacted]',
    },
  });
}

export type Logger = pino.Logger;
