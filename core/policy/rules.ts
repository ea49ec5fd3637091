// Each rule: a daemon (its containers and the pod-level settings it runs with) and the policy in,
// findings out. Every finding names the template, the rule, what is wrong and how to fix it.
import type { ContainerView } from '../argo/template.ts';
import { durationSeconds, type Policy, type RuleName } from './schema.ts';

/** A daemon as the policy sees it, built from a template at submission or from a pod at creation. */
export interface DaemonSubject {
  template: string;
  containers: ContainerView[];
  hostNetwork: boolean;
  hostPathVolumes: string[];
  activeDeadlineSeconds: number | undefined;
}

export interface Finding {
  rule: RuleName;
  template: string;
  message: string;
  fix: string;
}

type Check = (d: DaemonSubject, p: Policy) => Finding[];

const services = (d: DaemonSubject) => d.containers.filter((c) => c.role === 'service');

/** Docker's reference rules: a first path part with a dot or colon (or "localhost") is a registry. */
export function normalizedImage(image: string): string {
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  const hasRegistry = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  // Docker Hub's own names: index.docker.io is docker.io, and a one-part repository is in library/.
  if (hasRegistry && first !== 'docker.io' && first !== 'index.docker.io') return image;
  const path = hasRegistry ? image.slice(slash + 1) : image;
  return `docker.io/${path.includes('/') ? path : `library/${path}`}`;
}

export function registryAllowed(image: string, allow: string[]): boolean {
  const ref = normalizedImage(image);
  return allow.some((entry) => {
    const prefix = entry.replace(/\/+$/, '');
    // A tag or digest may follow a repository; after a bare registry a colon is a port, another registry.
    const repository = prefix.includes('/');
    return ref === prefix || ref.startsWith(`${prefix}/`) || (repository && (ref.startsWith(`${prefix}:`) || ref.startsWith(`${prefix}@`)));
  });
}

const daemonChecks: Record<Exclude<RuleName, 'daemonsPerWorkflow'>, Check> = {
  readinessProbe: (d) =>
    services(d).length > 0 && !services(d).some((c) => c.hasReadinessProbe)
      ? [
          {
            rule: 'readinessProbe',
            template: d.template,
            message: 'daemon has no readinessProbe, so Argo starts the next steps before the service is up',
            fix: 'add a readinessProbe to the daemon container',
          },
        ]
      : [],
  resources: (d, p) => {
    const out: Finding[] = [];
    for (const c of services(d)) {
      const missing = [
        ...p.rules.resources.requests.filter((r) => !(r in c.requests) && !(r in p.defaults.requests)).map((r) => `requests.${r}`),
        // The mutating webhook adds a default limit only where the container requests none of that
        // resource (it never makes request > limit), so only then does the default satisfy the rule.
        ...p.rules.resources.limits.filter((r) => !(r in c.limits) && !(r in p.defaults.limits && !(r in c.requests))).map((r) => `limits.${r}`),
      ];
      if (missing.length > 0) {
        out.push({
          rule: 'resources',
          template: d.template,
          message: `container ${c.name} sets no ${missing.join(', ')}`,
          fix: `set resources.${missing.join(', resources.')} on container ${c.name}`,
        });
      }
    }
    return out;
  },
  registries: (d, p) => {
    const allow = p.rules.registries.allow;
    if (allow.length === 0) return [];
    return d.containers
      .filter((c) => c.image !== undefined && !registryAllowed(c.image, allow))
      .map((c) => ({
        rule: 'registries' as const,
        template: d.template,
        message: `container ${c.name} image ${c.image} is not from an allowed registry`,
        fix: `use an image from ${allow.join(', ')}`,
      }));
  },
  privileged: (d) =>
    d.containers
      .filter((c) => c.privileged)
      .map((c) => ({ rule: 'privileged' as const, template: d.template, message: `container ${c.name} is privileged`, fix: `remove securityContext.privileged from container ${c.name}` })),
  hostNetwork: (d) =>
    d.hostNetwork ? [{ rule: 'hostNetwork', template: d.template, message: 'daemon runs in the host network', fix: 'remove hostNetwork: true' }] : [],
  hostPath: (d) =>
    d.hostPathVolumes.length > 0
      ? [{ rule: 'hostPath', template: d.template, message: `daemon mounts hostPath volumes ${d.hostPathVolumes.join(', ')}`, fix: 'use an emptyDir or a PersistentVolumeClaim instead of hostPath' }]
      : [],
  maxLifetime: (d, p) => {
    const cap = durationSeconds(p.maxLifetime);
    if (cap === 0 || d.activeDeadlineSeconds === undefined || d.activeDeadlineSeconds <= cap) return [];
    return [
      {
        rule: 'maxLifetime',
        template: d.template,
        message: `activeDeadlineSeconds ${d.activeDeadlineSeconds} exceeds the daemon lifetime cap of ${cap}s and will be lowered`,
        fix: `set activeDeadlineSeconds to at most ${cap}`,
      },
    ];
  },
};

export function checkDaemon(d: DaemonSubject, p: Policy): Finding[] {
  return Object.values(daemonChecks).flatMap((check) => check(d, p));
}

/** Loops over literal lists count their items; loops known only at run time count once ("at least"). */
export function checkDaemonCount(workflow: string, count: number, atLeast: boolean, p: Policy): Finding[] {
  const max = p.rules.daemonsPerWorkflow.max;
  if (count <= max) return [];
  return [
    {
      rule: 'daemonsPerWorkflow',
      template: workflow,
      message: `a run starts ${atLeast ? 'at least ' : ''}${count} daemons, more than the limit of ${max}`,
      fix: `start at most ${max} daemons per workflow, or share one daemon between steps`,
    },
  ];
}
