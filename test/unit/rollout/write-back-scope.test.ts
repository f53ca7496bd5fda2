import { describe, expect, it } from 'vitest';
import type { RolloutSpec } from '../../../src/api/rollout.js';
import { needsNamespace, writeBackScope, type ControllerWriteBack, type NamespaceWord } from '../../../src/gitops/write-back-scope.js';

const ns = (annotations: Record<string, string> = {}): NamespaceWord => ({ name: 'shop', annotations });
const enabledNs = ns({ 'fledge.dev/write-back': 'enabled' });
const disabledNs = ns({ 'fledge.dev/write-back': 'disabled' });
const off: ControllerWriteBack = { mode: 'off' };
const on: ControllerWriteBack = { mode: 'on' };

describe('who opts a Rollout in to write-back: the Rollout, then its Namespace, then the controller', () => {
  const table: Array<[string, RolloutSpec['writeBack'], NamespaceWord, ControllerWriteBack, 'Rollout' | 'Namespace' | 'controller' | false]> = [
    ['nobody says: off by default', undefined, ns(), off, false],
    ['the controller alone', undefined, ns(), on, 'controller'],
    ['the Namespace alone', undefined, enabledNs, off, 'Namespace'],
    ['the Namespace opts out of a controller-wide on', undefined, disabledNs, on, false],
    ['spec.writeBack present is opted in, as before', {}, ns(), off, 'Rollout'],
    ['spec.writeBack present beats a Namespace that opts out', { secretRef: { name: 'git' } }, disabledNs, off, 'Rollout'],
    ['enabled: true beats a Namespace that opts out', { enabled: true }, disabledNs, off, 'Rollout'],
    ['enabled: false beats a Namespace that opts in', { enabled: false }, enabledNs, on, false],
    ['enabled: false beats the controller', { enabled: false }, ns(), on, false],
    ['a Namespace annotation other than these two keys changes nothing', undefined, ns({ 'fledge.dev/other': 'enabled' }), off, false],
  ];
  it.each(table)('%s', (_, spec, namespace, controller, expected) => {
    const scope = writeBackScope(spec, namespace, controller);
    if (expected === false) expect(scope).toMatchObject({ enabled: false });
    else expect(scope).toMatchObject({ enabled: true, optedInBy: expected });
  });

  it('says why when it is off', () => {
    expect(writeBackScope(undefined, ns(), off)).toEqual({ enabled: false, reason: 'neither the Rollout, its Namespace nor the controller (--write-back) opts in' });
    expect(writeBackScope(undefined, disabledNs, on)).toEqual({ enabled: false, reason: 'Namespace shop has fledge.dev/write-back: disabled' });
  });
});

describe('which Secret: the Rollout, then its Namespace, then the controller', () => {
  const withSecret = ns({ 'fledge.dev/write-back': 'enabled', 'fledge.dev/write-back-secret': 'team-git' });
  const table: Array<[string, RolloutSpec['writeBack'], NamespaceWord, ControllerWriteBack, string | undefined]> = [
    ['the Rollout names it', { secretRef: { name: 'own-git' } }, withSecret, { mode: 'on', secret: 'platform-git' }, 'own-git'],
    ['the Namespace names it', undefined, withSecret, { mode: 'on', secret: 'platform-git' }, 'team-git'],
    ['a Rollout that opts in without a Secret takes the Namespace one', { enabled: true }, withSecret, off, 'team-git'],
    ['the controller names it', undefined, enabledNs, { mode: 'off', secret: 'platform-git' }, 'platform-git'],
    ['nobody names one: an anonymous push (a public mirror, or a 401 to report)', undefined, enabledNs, off, undefined],
  ];
  it.each(table)('%s', (_, spec, namespace, controller, secret) => {
    const scope = writeBackScope(spec, namespace, controller);
    expect(scope).toMatchObject({ enabled: true });
    expect('secret' in scope ? scope.secret : undefined).toBe(secret);
  });
});

describe('what it cannot follow', () => {
  it('reports a Namespace annotation it does not understand, unless the Rollout has already said', () => {
    const typo = ns({ 'fledge.dev/write-back': 'true' });
    expect(writeBackScope(undefined, typo, off)).toEqual({ problem: 'Namespace shop has fledge.dev/write-back: "true"; expected "enabled" or "disabled"' });
    expect(writeBackScope({}, typo, off)).toMatchObject({ enabled: true, optedInBy: 'Rollout' });
  });

  it('without the Namespace, fails only where the controller would write back, since the Namespace might opt out', () => {
    const unreadable: NamespaceWord = { name: 'shop', unreadable: 'HTTP 403' };
    expect(writeBackScope(undefined, unreadable, on)).toEqual({ problem: 'cannot read Namespace shop to see whether it opts out: HTTP 403' });
    expect(writeBackScope(undefined, unreadable, off)).toMatchObject({ enabled: false });
    expect(writeBackScope({}, unreadable, { mode: 'off', secret: 'platform-git' })).toEqual({ enabled: true, optedInBy: 'Rollout', secret: 'platform-git' });
  });

  it('reads the Namespace only when the Rollout leaves whether, or which Secret, open', () => {
    expect(needsNamespace(undefined)).toBe(true);
    expect(needsNamespace({})).toBe(true);
    expect(needsNamespace({ enabled: true })).toBe(true);
    expect(needsNamespace({ secretRef: { name: 'git' } })).toBe(false);
    expect(needsNamespace({ enabled: false })).toBe(false);
  });
});
