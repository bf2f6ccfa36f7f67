import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { LTI_KEY_FILE, loadLtiKey } from './lti.key';
import { ConfigError, loadConfig } from '../../config/config';

describe('the LTI signing key', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-lti-key-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is generated once into the data folder (0600, no drafts left), reused after, and named by its RFC 7638 thumbprint', async () => {
    const [a, b] = await Promise.all([loadLtiKey({ keyFile: null, dataDir: dir }), loadLtiKey({ keyFile: null, dataDir: dir })]);
    expect(a.kid).toBe(b.kid);
    expect((await loadLtiKey({ keyFile: null, dataDir: dir })).kid).toBe(a.kid);
    expect(readdirSync(dir)).toEqual([LTI_KEY_FILE]);
    expect(statSync(path.join(dir, LTI_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(a.kid).toBe(await calculateJwkThumbprint({ kty: 'RSA', n: a.publicJwk.n, e: a.publicJwk.e }));
    expect(a.publicJwk).not.toHaveProperty('d');
  });

  it('comes from the configured PEM when one is given, and must be RSA of at least 2048 bits', async () => {
    const pem = (k: ReturnType<typeof generateKeyPairSync>['privateKey']) => k.export({ type: 'pkcs8', format: 'pem' }) as string;
    const file = path.join(dir, 'given.pem');
    writeFileSync(file, pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey));
    const given = await loadLtiKey({ keyFile: file, dataDir: dir });
    expect(given.kid).not.toBe((await loadLtiKey({ keyFile: null, dataDir: dir })).kid);
    writeFileSync(file, pem(generateKeyPairSync('ed25519').privateKey));
    await expect(loadLtiKey({ keyFile: file, dataDir: dir })).rejects.toThrow(/RSA/);
    writeFileSync(file, pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey));
    await expect(loadLtiKey({ keyFile: file, dataDir: dir })).rejects.toThrow(/2048/);
  });

  it('configuration: the issuer defaults to the local server, must be https in production, and the key file must be readable', () => {
    expect(loadConfig({}).ltiIssuer).toBe('http://localhost:4000');
    expect(loadConfig({ NODE_ENV: 'production' }).ltiIssuer).toBeNull();
    expect(loadConfig({ NODE_ENV: 'production', CUSTOS_LTI_ISSUER: 'https://lms.example.edu/' }).ltiIssuer).toBe('https://lms.example.edu');
    expect(() => loadConfig({ NODE_ENV: 'production', CUSTOS_LTI_ISSUER: 'http://lms.example.edu' })).toThrow(/^Invalid configuration: CUSTOS_LTI_ISSUER /);
    expect(() => loadConfig({ CUSTOS_LTI_ISSUER: 'https://lms.example.edu/?x=1' })).toThrow(ConfigError);
    expect(() => loadConfig({ CUSTOS_LTI_SIGNING_KEY_FILE: path.join(dir, 'missing.pem') })).toThrow(/^Invalid configuration: CUSTOS_LTI_SIGNING_KEY_FILE /);
  });
});
