import { describe, expect, it } from 'vitest';
import { argo, guard } from './keys.ts';

describe('the names other parts and users\' scripts depend on', () => {
  it('the guard\'s labels and annotations', () => {
    expect(guard.daemonLabel).toBe('argo-daemon-guard.io/daemon');
    expect(guard.workflowUidLabel).toBe('argo-daemon-guard.io/workflow-uid');
    expect(guard.templateAnnotation).toBe('argo-daemon-guard.io/template');
    expect(guard.lifetimeCapAnnotation).toBe('argo-daemon-guard.io/lifetime-cap');
  });

  it('metric prefix, logger name and Event reasons', () => {
    expect(guard.metricPrefix).toBe('argo_daemon_guard_');
    expect(guard.name).toBe('argo-daemon-guard');
    expect(guard.eventReason.reaped).toBe('DaemonReaped');
    expect(guard.eventReason.stuck).toBe('DaemonStuck');
    for (const reason of Object.values(guard.eventReason)) expect(reason).toMatch(/^Daemon[A-Z]/);
  });

  it('none of the guard\'s keys lives in Argo\'s workflows.argoproj.io namespace', () => {
    for (const k of [guard.daemonLabel, guard.workflowUidLabel, guard.templateAnnotation, guard.lifetimeCapAnnotation]) expect(k.startsWith('argo-daemon-guard.io/')).toBe(true);
  });

  it('Argo\'s names, as its controller writes them', () => {
    expect(argo.workflowLabel).toBe('workflows.argoproj.io/workflow');
    expect(argo.completedLabel).toBe('workflows.argoproj.io/completed');
    expect(argo.controllerInstanceIdLabel).toBe('workflows.argoproj.io/controller-instanceid');
    expect(argo.componentLabel).toBe('workflows.argoproj.io/component');
    expect(argo.nodeIdAnnotation).toBe('workflows.argoproj.io/node-id');
    expect(argo.nodeNameAnnotation).toBe('workflows.argoproj.io/node-name');
    expect(argo.templateEnv).toBe('ARGO_TEMPLATE');
    expect(argo.workflowUidEnv).toBe('ARGO_WORKFLOW_UID');
    expect(argo.offloadedTemplateValue).toBe('offloaded');
    expect([...argo.nonWorkloadComponents].sort()).toEqual(['agent', 'artifact-gc']);
  });
});
