// X.509 for the webhook's self-managed certificates and the test cluster's PKI: a CA, serving
// certificates, client certificates. ECDSA P-256 through Node's WebCrypto; @peculiar/x509 encodes.
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { webcrypto, X509Certificate as NodeX509, createPrivateKey } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface IssueOptions {
  commonName: string;
  organizations?: string[];
  dnsNames?: string[];
  ips?: string[];
  validDays?: number;
  /** Backdated by a minute so a clock a little behind still accepts it. */
  notBefore?: Date;
}

function pemKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END PRIVATE KEY-----\n`;
}

function subject(o: IssueOptions): string {
  const esc = (s: string) => s.replace(/([,+"\\<>;=])/g, '\\$1');
  return [...(o.organizations ?? []).map((org) => `O=${esc(org)}`), `CN=${esc(o.commonName)}`].join(', ');
}

function validity(o: IssueOptions): { notBefore: Date; notAfter: Date } {
  const notBefore = o.notBefore ?? new Date(Date.now() - 60_000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + (o.validDays ?? 365) * 86_400_000) };
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
}

async function exportKey(keys: webcrypto.CryptoKeyPair): Promise<string> {
  return pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
}

export async function createCA(commonName: string, validDays = 3650, notBefore?: Date): Promise<KeyPairPem> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subject({ commonName }),
    ...validity({ commonName, validDays, ...(notBefore ? { notBefore } : {}) }),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKey(keys) };
}

async function importSigner(ca: KeyPairPem): Promise<{ cert: x509.X509Certificate; key: webcrypto.CryptoKey }> {
  const der = createPrivateKey(ca.keyPem).export({ format: 'der', type: 'pkcs8' });
  const key = await webcrypto.subtle.importKey('pkcs8', der, alg, false, ['sign']);
  return { cert: new x509.X509Certificate(ca.certPem), key };
}

async function issue(ca: KeyPairPem, o: IssueOptions, usage: 'server' | 'client'): Promise<KeyPairPem> {
  const signer = await importSigner(ca);
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const sans: x509.JsonGeneralName[] = [
    ...(o.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.AuthorityKeyIdentifierExtension.create(signer.cert),
  ];
  if (sans.length) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: subject(o),
    issuer: signer.cert.subject,
    ...validity(o),
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: alg,
    extensions,
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKey(keys) };
}

export function issueServingCert(ca: KeyPairPem, o: IssueOptions): Promise<KeyPairPem> {
  return issue(ca, o, 'server');
}

export function issueClientCert(ca: KeyPairPem, o: IssueOptions): Promise<KeyPairPem> {
  return issue(ca, o, 'client');
}

/** Expiry of the first certificate in a PEM bundle. */
export function notAfter(certPem: string): Date {
  return new Date(new NodeX509(certPem).validTo);
}
