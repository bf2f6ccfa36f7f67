import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import type { Config } from '../../config/config';
import { readOrCreateKeyPem } from '../../shared/key-file';

export const LTI_KEY_FILE = 'lti-signing-key.pem';
export const LTI_ALG = 'RS256';

/** The RSA key that signs LTI id_tokens, with its key id and the public half as a JWK. */
export interface LtiSigningKey {
  privateKey: KeyObject;
  /** RFC 7638 JWK thumbprint (SHA-256) of the public key: the same key always has the same id. */
  kid: string;
  /** The public key as published in the JWKS (with kid, alg and use). */
  publicJwk: JWK;
}

/** What a launch and a notice need of the platform: who it is and how it signs. */
export interface LtiPlatform {
  issuer: string | null;
  key: LtiSigningKey;
}

export async function ltiKeyFromPem(pem: string): Promise<LtiSigningKey> {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error('the LTI signing key must be an RSA private key');
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw new Error(`the LTI signing key must have at least 2048 bits, not ${bits}`);
  const jwk = await exportJWK(createPublicKey(privateKey));
  const publicJwk: JWK = { kty: jwk.kty, n: jwk.n, e: jwk.e };
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return { privateKey, kid, publicJwk: { ...publicJwk, kid, alg: LTI_ALG, use: 'sig' } };
}

/** The LTI key, like the audit signing key: a PEM every instance shares, or one generated once into the data folder. */
export async function loadLtiKey(opts: { keyFile: string | null; dataDir: string }): Promise<LtiSigningKey> {
  return ltiKeyFromPem(await readOrCreateKeyPem(opts, LTI_KEY_FILE,
    () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string));
}

/** The platform as configured: its issuer and its key. */
export async function loadLtiPlatform(config: Pick<Config, 'ltiIssuer' | 'ltiSigningKeyFile' | 'dataDir'>): Promise<LtiPlatform> {
  return { issuer: config.ltiIssuer, key: await loadLtiKey({ keyFile: config.ltiSigningKeyFile, dataDir: config.dataDir }) };
}

/** The JSON Web Key Set tools verify id_tokens (and notices) with. */
export const jwksOf = (key: LtiSigningKey): { keys: JWK[] } => ({ keys: [key.publicJwk] });
