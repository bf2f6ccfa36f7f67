import { createHash, randomBytes } from 'node:crypto';

/** Secrets look like `cst_` + 43 base64url characters (256 random bits). */
export const TOKEN_PATTERN = /^cst_[A-Za-z0-9_-]{43}$/;

export function generateSecret(): string {
  return `cst_${randomBytes(32).toString('base64url')}`;
}

/** A plain SHA-256 is right here: the secret has 256 bits of entropy, so there is nothing to brute-force. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Shown in token lists so people can tell tokens apart; too short to help an attacker. */
export function secretPrefix(secret: string): string {
  return secret.slice(0, 10);
}
