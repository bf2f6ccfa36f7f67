import { UniqueConstraintViolationException } from '@mikro-orm/core';

/**
 * Turns a unique-constraint violation into the caller's error. Services check first for a clear
 * message; this catches the race where two requests insert the same value at once.
 */
export async function onUniqueViolation<T>(work: () => Promise<T>, errors: Record<string, () => Error>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) {
      const constraint = (err as unknown as { constraint?: string }).constraint ?? '';
      const mapped = errors[constraint];
      if (mapped) throw mapped();
    }
    throw err;
  }
}
