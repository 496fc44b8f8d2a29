/**
 * The local certificate authority: `skiff local up` creates it once under the data folder (its
 * key file mode 0600), and the local load balancer issues a certificate per ingress host from it,
 * on demand, so that `curl --cacert <data>/ca/ca.crt https://shop.example.test/` trusts the
 * answer. Certificates are built with @peculiar/x509 over Node's WebCrypto: no hand-written ASN.1,
 * no openssl process.
 *
 * ECDSA P-256 with SHA-256: what browsers and curl accept everywhere, and a key in microseconds,
 * so a certificate issued on the first TLS handshake of a host costs little.
 */
import { mkdir, readFile, rename, writeFile, chmod, stat } from 'node:fs/promises';
import { webcrypto, randomBytes } from 'node:crypto';
import { join } from 'node:path';
// @peculiar/x509's dependency tsyringe needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** The CA lives ten years: it is created once per data folder, and trusting it again is a chore. */
const CA_DAYS = 3650;
/** Browsers refuse server certificates valid for more than 398 days (CA/Browser Forum); the proxy issues fresh ones at each start anyway. */
const LEAF_DAYS = 397;
/** Issued a little in the past, so a clock a few minutes behind (a VM, a container) still accepts them. */
const BACKDATE_MS = 60 * 60 * 1000;

export interface CaFiles {
  /** PEM certificate of the CA: what clients are told to trust. */
  readonly cert: string;
  /** PEM PKCS#8 private key of the CA, mode 0600. */
  readonly key: string;
}

/** Where the CA of a data folder is kept. */
export function caFiles(dataDir: string): CaFiles {
  const dir = join(dataDir, 'ca');
  return { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
}

/**
 * The CA of `dataDir`, created when it has none. Its key is written with mode 0600 before its
 * certificate, and each through a temporary file, so that a crash never leaves a certificate
 * without its key. A key file readable by others is made 0600 again (and said so).
 */
export async function ensureLocalCa(dataDir: string, warn: (line: string) => void = () => {}): Promise<CaFiles & { readonly created: boolean }> {
  const files = caFiles(dataDir);
  const existing = await Promise.all([exists(files.cert), exists(files.key)]);
  if (existing[0] && existing[1]) {
    const mode = (await stat(files.key)).mode & 0o777;
    if (mode !== 0o600) {
      warn(`the local CA's key ${files.key} had mode ${mode.toString(8)}; set to 600`);
      await chmod(files.key, 0o600);
    }
    return { ...files, created: false };
  }
  await mkdir(join(dataDir, 'ca'), { recursive: true, mode: 0o700 });
  const keys = (await crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const name = 'CN=Skiff local CA, O=Skiff';
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_DAYS * 86_400_000),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await writeAtomic(files.key, pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', keys.privateKey)), 0o600);
  await writeAtomic(files.cert, cert.toString('pem'), 0o644);
  return { ...files, created: true };
}

/** A CA loaded for issuing. */
export interface LocalCa {
  /** PEM of the CA certificate, sent after each leaf so clients can build the chain. */
  readonly certPem: string;
  /** A key and certificate (PEM, the CA's after the leaf's) for `host`, an ingress host name, and for the IP addresses `ips`. */
  issue(host: string, ips?: readonly string[]): Promise<{ readonly key: string; readonly cert: string }>;
}

/** Loads the CA from its files (the proxy thread does this, so the key never crosses threads). */
export async function loadLocalCa(files: CaFiles, now: () => number = Date.now): Promise<LocalCa> {
  const [certPem, keyPem] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
  const caCert = new x509.X509Certificate(certPem);
  const caKey = await crypto.subtle.importKey('pkcs8', fromPem(keyPem), ALGORITHM, false, ['sign']);
  const caKeyId = await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey);
  return {
    certPem,
    async issue(host, ips = []) {
      const keys = (await crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
      const t = now();
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: `CN=${host}`,
        issuer: caCert.subject,
        notBefore: new Date(t - BACKDATE_MS),
        notAfter: new Date(t + LEAF_DAYS * 86_400_000),
        publicKey: keys.publicKey,
        signingKey: caKey,
        signingAlgorithm: SIGNING,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host }, ...ips.map((value) => ({ type: 'ip' as const, value }))]),
          caKeyId,
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      const key = pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', keys.privateKey));
      return { key, cert: `${cert.toString('pem')}\n${certPem.trim()}\n` };
    },
  };
}

/** A positive 16-byte serial number in hex (RFC 5280 allows 20 octets; the top bit clear keeps it positive). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;
  return bytes.toString('hex');
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

function fromPem(text: string): ArrayBuffer {
  const b64 = text.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
  const buf = Buffer.from(b64, 'base64');
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
