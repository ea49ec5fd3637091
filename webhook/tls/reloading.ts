// The serving certificate in use, and how it changes without a restart: from files (a Secret volume,
// which the kubelet updates by a `..data` symlink swap) or from the self-managed Secret. A new pair is
// checked before it is applied; a broken one (key that does not match, truncated PEM) is refused and
// the pair in use stays, so a bad rotation never takes the webhook down.
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { WatchedFiles } from '../../runtime/watched-file.ts';
import type { Metrics } from '../metrics.ts';
import type { KeyPairPem } from './pki.ts';

export interface TlsStatus {
  loaded: boolean;
  source: string;
  notAfter: string | undefined;
  lastLoadOk: boolean;
  lastError: string | undefined;
}

/** Throws with a readable reason unless Node would serve this pair; returns the certificate's expiry. */
export function checkPair(pair: KeyPairPem): { notAfter: Date } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.certPem);
  } catch (err) {
    throw new Error(`certificate does not parse: ${(err as Error).message}`);
  }
  try {
    createSecureContext({ cert: pair.certPem, key: pair.keyPem });
  } catch (err) {
    const msg = (err as Error).message;
    throw new Error(/mismatch/i.test(msg) ? 'private key does not match the certificate' : `certificate or key rejected: ${msg}`);
  }
  return { notAfter: new Date(cert.validTo) };
}

export class ServingTls {
  #pair: KeyPairPem | undefined;
  #listeners: ((pair: KeyPairPem) => void)[] = [];
  #status: TlsStatus;
  #logger: Logger;
  #metrics: Metrics | undefined;

  constructor(source: string, logger: Logger, metrics?: Metrics) {
    this.#status = { loaded: false, source, notAfter: undefined, lastLoadOk: false, lastError: undefined };
    this.#logger = logger;
    this.#metrics = metrics;
  }

  current(): KeyPairPem | undefined {
    return this.#pair;
  }

  status(): TlsStatus {
    return { ...this.#status };
  }

  onChange(listener: (pair: KeyPairPem) => void): void {
    this.#listeners.push(listener);
  }

  /** Applies the pair if it is valid and new; otherwise keeps the one in use. True when it is in use now. */
  apply(pair: KeyPairPem, origin: string): boolean {
    if (this.#pair && this.#pair.certPem === pair.certPem && this.#pair.keyPem === pair.keyPem) return true;
    let notAfter: Date;
    try {
      ({ notAfter } = checkPair(pair));
    } catch (err) {
      this.reject(origin, err as Error);
      return false;
    }
    this.#pair = pair;
    this.#status = { ...this.#status, loaded: true, notAfter: notAfter.toISOString(), lastLoadOk: true, lastError: undefined };
    this.#metrics?.tlsReloads.inc({ outcome: 'success' });
    this.#metrics?.servingCertExpiry.set(Math.floor(notAfter.getTime() / 1000));
    this.#logger.info({ source: origin, notAfter: notAfter.toISOString() }, 'serving certificate loaded');
    for (const l of this.#listeners) l(pair);
    return true;
  }

  /** Records a version that could not be used; the pair in use (if any) stays. */
  reject(origin: string, err: Error): void {
    this.#status = { ...this.#status, lastLoadOk: false, lastError: err.message };
    this.#metrics?.tlsReloads.inc({ outcome: 'failure' });
    this.#logger.error(
      { source: origin, err: err.message },
      this.#pair ? 'serving certificate rejected; keeping the certificate in use' : 'serving certificate rejected; none loaded yet',
    );
  }
}

/** Follows --tls-cert / --tls-key; the caller checks `tls.current()` after this resolves. */
export function watchCertFiles(certPath: string, keyPath: string, tls: ServingTls, opts: { pollMs?: number } = {}): Promise<WatchedFiles<KeyPairPem>> {
  const origin = `files ${certPath}, ${keyPath}`;
  return WatchedFiles.open<KeyPairPem>({
    paths: [certPath, keyPath],
    parse: ([cert, key]) => {
      const pair = { certPem: cert!.toString('utf8'), keyPem: key!.toString('utf8') };
      checkPair(pair);
      return pair;
    },
    onLoad: (e) => (e.ok ? tls.apply(e.value, origin) : tls.reject(origin, e.error)),
    ...(opts.pollMs ? { pollMs: opts.pollMs } : {}),
  });
}
