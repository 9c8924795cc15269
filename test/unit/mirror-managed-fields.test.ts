// Which field ownership a copy carries (lib/mirror/managed-fields.ts): an applied owner's appliers, never
// the synchronizer's own entries, compared without the timestamps the API server sets.
import { describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../lib/kube/types.js';
import { isApplied, ownerManagedFields, sameManagedFields, withOwnerManagedFields } from '../../lib/mirror/managed-fields.js';
import { SYNCHRONIZER_FIELD_MANAGER } from '../../lib/names.js';

const entry = (manager: string, operation: 'Apply' | 'Update', time = '2026-12-07T10:00:00Z') => ({
  manager,
  operation,
  apiVersion: 'v1',
  time,
  fieldsType: 'FieldsV1',
  fieldsV1: { 'f:data': { 'f:mode': {} } },
});
const object = (...managedFields: object[]): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'n', managedFields } });

describe('managed fields on copies', () => {
  it('counts an object as applied when any manager but the synchronizer applied it', () => {
    expect(isApplied(object(entry('gc-a', 'Apply')))).toBe(true);
    expect(isApplied(object(entry('kubectl-create', 'Update')))).toBe(false);
    expect(isApplied(object(entry(SYNCHRONIZER_FIELD_MANAGER, 'Apply')))).toBe(false);
    expect(isApplied(object())).toBe(false);
  });

  it("carries the owner's entries without the synchronizer's", () => {
    const owner = object(entry('gc-a', 'Apply'), entry(SYNCHRONIZER_FIELD_MANAGER, 'Update'), entry('gc-b', 'Apply'));
    expect(ownerManagedFields(owner).map((e) => e.manager)).toEqual(['gc-a', 'gc-b']);
    const copy = withOwnerManagedFields(object(entry(SYNCHRONIZER_FIELD_MANAGER, 'Update')), owner);
    expect(copy.metadata.managedFields).toEqual([entry('gc-a', 'Apply'), entry('gc-b', 'Apply')]);
  });

  it('compares ownership without timestamps, and a synchronizer entry on the copy is a difference', () => {
    const owner = object(entry('gc-a', 'Apply'));
    expect(sameManagedFields(owner, object(entry('gc-a', 'Apply', '2026-12-07T11:00:00Z')))).toBe(true);
    expect(sameManagedFields(owner, object(entry('gc-a', 'Apply'), entry(SYNCHRONIZER_FIELD_MANAGER, 'Update')))).toBe(false);
    expect(sameManagedFields(owner, object(entry('gc-b', 'Apply')))).toBe(false);
    // Status is written by the synchronizer itself through /status: who owns it there is no difference.
    expect(sameManagedFields(owner, object(entry('gc-a', 'Apply'), { ...entry(SYNCHRONIZER_FIELD_MANAGER, 'Update'), subresource: 'status' }))).toBe(true);
  });
});
