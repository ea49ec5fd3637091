// The webhook's Prometheus metrics, on a registry of its own (tests and a future combined binary can
// hold several). No label ever carries a pod or object name: cardinality stays fixed.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { argo, guard } from '../core/keys.ts';

const p = guard.metricPrefix;

/** Kinds the webhooks are registered for; anything else a client sends is counted as "other". */
const knownKinds = new Set<string>(['Pod', ...Object.values(argo.kinds)]);

export function kindLabel(kind: string): string {
  return knownKinds.has(kind) ? kind : 'other';
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  // Process metrics keep their conventional unprefixed names (process_*, nodejs_*) so stock dashboards work.
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    admissions: new Counter({
      name: `${p}admissions_total`,
      help: 'Admission requests answered, by endpoint, object kind and decision (dry-run requests are not counted)',
      labelNames: ['endpoint', 'kind', 'decision'] as const,
      registers,
    }),
    admissionDuration: new Histogram({
      name: `${p}admission_duration_seconds`,
      help: 'Time from a complete request body to the answer, including an offloaded-template read',
      labelNames: ['endpoint'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    admissionErrors: new Counter({
      name: `${p}admission_errors_total`,
      help: 'Requests that could not be handled normally: stage body (400, no uid), review (malformed, admitted), handler (internal error, admitted)',
      labelNames: ['endpoint', 'stage'] as const,
      registers,
    }),
    policyFindings: new Counter({
      name: `${p}policy_findings_total`,
      help: 'Policy findings by rule and mode; audit-mode findings are reported only here and in the log',
      labelNames: ['rule', 'mode'] as const,
      registers,
    }),
    offloadedReads: new Counter({
      name: `${p}offloaded_template_reads_total`,
      help: 'Reads of offloaded ARGO_TEMPLATE ConfigMaps by outcome (ok, not-found, missing-key, timeout, error, no-credentials)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    policyReloads: new Counter({
      name: `${p}policy_reload_total`,
      help: 'Policy file loads by outcome (success, failure); a failure keeps the last good policy',
      labelNames: ['outcome'] as const,
      registers,
    }),
    policyLastReloadSuccess: new Gauge({
      name: `${p}policy_last_reload_success`,
      help: '1 when the latest version of the policy file loaded, 0 when it was rejected (the last good policy is in use)',
      registers,
    }),
    tlsReloads: new Counter({
      name: `${p}tls_reload_total`,
      help: 'Serving certificate loads by outcome (success, failure); a failure keeps the certificate in use',
      labelNames: ['outcome'] as const,
      registers,
    }),
    servingCertExpiry: new Gauge({
      name: `${p}serving_cert_expiry_timestamp_seconds`,
      help: 'notAfter of the serving certificate in use, Unix seconds',
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
