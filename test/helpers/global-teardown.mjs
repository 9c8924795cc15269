import { labDown } from '../../dist/lab/lab.js';

export default async function globalTeardown() {
  if (globalThis.__labStartedByTests && !process.env.BRIDGE_KEEP_LAB) await labDown();
}
