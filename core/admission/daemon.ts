// Which daemon template, if any, a pod runs: the shared first step of mutation, validation and reaping.
import { classifyPod, type PodClass, type PodFacts, type TemplateLayout } from '../argo/pod.ts';
import { parseTemplateJson, type TemplateView } from '../argo/template.ts';

export type PodDaemon =
  | { kind: 'daemon'; pod: PodFacts; template: TemplateView; layout: TemplateLayout }
  | { kind: 'not-daemon'; pod: PodFacts; reason: string }
  | { kind: 'not-argo'; reason: string }
  | { kind: 'unknown'; pod: PodFacts | undefined; reason: string };

/** The text of an offloaded template, as read by the shell from the ConfigMap named like the pod. */
export type OffloadedTemplate = { ok: true; json: string } | { ok: false; reason: string };

/**
 * Reads the template from the pod; for an offloaded one the caller passes what it read from the
 * ConfigMap (the core does no I/O). A missing or unreadable template is "unknown", never a guess.
 * `cls` is classifyPod(pod), for a caller that has it already.
 */
export function podDaemon(pod: unknown, offloaded?: OffloadedTemplate, cls: PodClass = classifyPod(pod)): PodDaemon {
  if (cls.kind === 'not-argo' || cls.kind === 'not-workload') return { kind: 'not-argo', reason: cls.reason };
  const facts = cls.pod;
  const src = facts.template;
  let json: string;
  if (src.kind === 'missing') return { kind: 'unknown', pod: facts, reason: src.reason };
  if (src.kind === 'offloaded') {
    if (!offloaded) return { kind: 'unknown', pod: facts, reason: `template offloaded to ConfigMap ${src.configMap}, which was not read` };
    if (!offloaded.ok) return { kind: 'unknown', pod: facts, reason: `template offloaded to ConfigMap ${src.configMap}: ${offloaded.reason}` };
    json = offloaded.json;
  } else json = src.json;
  const parsed = parseTemplateJson(json);
  if (!parsed.ok) return { kind: 'unknown', pod: facts, reason: parsed.reason };
  if (!parsed.value.daemon) return { kind: 'not-daemon', pod: facts, reason: `template ${parsed.value.name || '(unnamed)'} is not a daemon` };
  return { kind: 'daemon', pod: facts, template: parsed.value, layout: src.layout };
}
