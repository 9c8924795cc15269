/**
 * The migration demo's application namespaces (issue 24): fixed names, chosen by their hash positions
 * (`shardPosition(name)`, the position a namespace shard has) so that the canary stages move a visible,
 * growing set: F = 1% moves one namespace, 5% three, 25% seven, 50% twelve, 100% all 24. Renaming one
 * moves it elsewhere on the circle; test/unit/demo-namespaces.test.ts recomputes the positions and
 * fails when a stage's set stops growing as the demo's report says.
 */
import { namespaceShardKey, shardPosition } from '../lib/routing/shard-hash.js';
import type { ShardKey } from '../lib/routing/types.js';

/** 24 namespaces, in position order (the order the stages move them). */
export const DEMO_NAMESPACES: readonly string[] = [
  'demo-support', // 0.0002: the 1% canary
  'demo-coupons', // 0.0138
  'demo-gateway', // 0.0363: 5% moves these three
  'demo-chat',
  'demo-billing',
  'demo-checkout',
  'demo-catalog', // 0.1912: 25% moves seven
  'demo-accounts',
  'demo-cart',
  'demo-storefront',
  'demo-ledger',
  'demo-inventory', // 0.4622: 50% moves twelve
  'demo-media',
  'demo-reviews',
  'demo-notifications',
  'demo-booking',
  'demo-payments',
  'demo-pricing',
  'demo-auth',
  'demo-loyalty',
  'demo-search',
  'demo-orders',
  'demo-shipping',
  'demo-audit',
];

export { DEMO_NAMESPACE_LABEL } from '../lib/names.js';

/** The demo's namespace shard keys (`namespace/<name>`). */
export const DEMO_NAMESPACE_SHARDS: readonly ShardKey[] = DEMO_NAMESPACES.map(namespaceShardKey);

/** The namespaces whose shard a stage of fraction F puts in the destination: position < F (shard-hash.ts desiredOwner). */
export function namespacesMovedAt(fraction: number, namespaces: readonly string[] = DEMO_NAMESPACES): string[] {
  return namespaces.filter((ns) => shardPosition(ns) < fraction);
}

/** "demo-support .000, demo-coupons .014, ...": the positions, as the demo's report prints them. */
export function describePositions(namespaces: readonly string[] = DEMO_NAMESPACES): string {
  return [...namespaces]
    .sort((a, b) => shardPosition(a) - shardPosition(b))
    .map((ns) => `${ns} ${shardPosition(ns).toFixed(3).replace(/^0/, '')}`)
    .join(', ');
}
