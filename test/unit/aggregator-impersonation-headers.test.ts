// The headers that make the destination act as a caller (aggregator/identity/identity.ts): a service account
// with exactly the groups every one gets goes by name alone (1.36's constrained `serviceaccount` mode,
// the aggregator's only right to act as one: docs/adr/0022); anyone else goes whole. The lab's API
// server judges these headers in test/e2e/component-rights.test.ts.
import { describe, expect, it } from '@jest/globals';
import { impersonationHeaders, type UserInfo } from '../../aggregator/identity/identity.js';

const SA = 'system:serviceaccount:apps:writer';
const saGroups = ['system:serviceaccounts', 'system:serviceaccounts:apps', 'system:authenticated'];

describe('impersonationHeaders', () => {
  it("sends a service account's token identity by name alone, whatever the order of its groups", () => {
    const user: UserInfo = { username: SA, uid: 'u-1', groups: [...saGroups].reverse(), extra: { 'authentication.kubernetes.io/pod-name': ['p'] } };
    expect(impersonationHeaders(user)).toEqual(['Impersonate-User', SA]);
  });

  it('sends a service account with other groups whole (the destination then decides, and refuses it without legacy rights)', () => {
    for (const groups of [[...saGroups, 'extra'], saGroups.slice(0, 2), ['system:serviceaccounts', 'system:serviceaccounts', 'system:authenticated']])
      expect(impersonationHeaders({ username: SA, groups, extra: {} })).toEqual(['Impersonate-User', SA, ...groups.flatMap((g) => ['Impersonate-Group', g])]);
  });

  it('sends any other user with its uid, groups and extras', () => {
    const user: UserInfo = { username: 'jane', uid: 'j', groups: ['devs', 'system:authenticated'], extra: { 'example.com/a b': ['x'] } };
    expect(impersonationHeaders(user)).toEqual([
      'Impersonate-User',
      'jane',
      'Impersonate-Uid',
      'j',
      'Impersonate-Group',
      'devs',
      'Impersonate-Group',
      'system:authenticated',
      'Impersonate-Extra-example.com%2Fa%20b',
      'x',
    ]);
  });
});
