import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/**
 * A signed tree head for one tenant's log: {tenant, tree size, root, time, previous checkpoint hash},
 * Ed25519-signed. The signed bytes are a fixed text format (below) so any verifier can rebuild them;
 * `hash` chains each checkpoint to the one before it.
 */
export const CHECKPOINT_FORMAT = 'custos.checkpoint.v1';

export interface CheckpointBody {
  tenantId: string;
  treeSize: number;
  root: Buffer;
  createdAt: Date;
  /** `hash` of the previous checkpoint of this tenant; null for the first. */
  previousHash: Buffer | null;
  keyId: string;
}

export interface Checkpoint extends CheckpointBody {
  signature: Buffer;
}

export function checkpointBytes(c: CheckpointBody): Buffer {
  return Buffer.from([
    CHECKPOINT_FORMAT,
    `tenant ${c.tenantId}`,
    `size ${c.treeSize}`,
    `root ${c.root.toString('hex')}`,
    `time ${c.createdAt.toISOString()}`,
    `previous ${c.previousHash ? c.previousHash.toString('hex') : 'none'}`,
    `key ${c.keyId}`,
    '',
  ].join('\n'), 'utf8');
}

/** What the next checkpoint names as `previousHash`: SHA-256 of the signed bytes and the signature. */
export function checkpointHash(c: Checkpoint): Buffer {
  return createHash('sha256').update(checkpointBytes(c)).update(c.signature).digest();
}

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Raw 32-byte Ed25519 public key, as published. */
  publicKeyRaw: Buffer;
}

/** Key ids are the first 16 bytes of SHA-256 of the raw public key, hex. */
export function keyIdOf(publicKeyRaw: Buffer): string {
  return createHash('sha256').update(publicKeyRaw).digest('hex').slice(0, 32);
}

export function rawPublicKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' }) as { x: string };
  return Buffer.from(jwk.x, 'base64url');
}

export function publicKeyFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

export function signingKeyFromPem(pem: string): SigningKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the audit signing key must be an Ed25519 private key');
  const publicKey = createPublicKey(privateKey);
  const publicKeyRaw = rawPublicKey(publicKey);
  return { keyId: keyIdOf(publicKeyRaw), privateKey, publicKey, publicKeyRaw };
}

export function signCheckpoint(body: CheckpointBody, key: SigningKey): Checkpoint {
  return { ...body, signature: sign(null, checkpointBytes(body), key.privateKey) };
}

export function verifyCheckpointSignature(c: Checkpoint, publicKeyRaw: Buffer): boolean {
  try {
    return verify(null, checkpointBytes(c), publicKeyFromRaw(publicKeyRaw), c.signature);
  } catch {
    return false;
  }
}
