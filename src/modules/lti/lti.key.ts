import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';

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

/**
 * The LTI key, like the audit signing key: from configuration (a PEM every instance shares) or, for a
 * single installation, generated once into the data folder (mode 0600) and reused from there.
 */
export async function loadLtiKey(opts: { keyFile: string | null; dataDir: string }): Promise<LtiSigningKey> {
  if (opts.keyFile) return ltiKeyFromPem(await fs.readFile(opts.keyFile, 'utf8'));
  const file = path.join(opts.dataDir, LTI_KEY_FILE);
  if (!existsSync(file)) {
    await fs.mkdir(opts.dataDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    // Written aside, then linked into place: two instances starting at once keep the first key, and
    // neither ever reads a half-written file.
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await fs.writeFile(draft, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    try {
      await fs.link(draft, file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    } finally {
      await fs.unlink(draft);
    }
  }
  return ltiKeyFromPem(await fs.readFile(file, 'utf8'));
}

/** The JSON Web Key Set tools verify id_tokens (and notices) with. */
export const jwksOf = (key: LtiSigningKey): { keys: JWK[] } => ({ keys: [key.publicJwk] });
