/**
 * What `bridgectl lab install` hands each component's installer (lab/install-<component>.ts).
 * Components run as local processes wired to the lab (the lab has no real nodes for their Deployments).
 */
import type { BridgeIssuers } from '../certs/bridge-authority.js';
import type { LabState } from './lab-files.js';
import type { DaemonRecord } from './process.js';

export interface LabInstallContext {
  lab: LabState;
  /** .lab/ */
  labDir: string;
  /** A folder of the component's own under .lab/install/<component>/ for certs, logs, config. */
  componentDir(component: string): string;
  /**
   * The bridge's serving and client intermediates (made once by lab install under the root at
   * .lab/install/bridge-ca.{crt,key}, ADR 0021); every lab certificate of the bridge comes from one of them.
   */
  issuers: BridgeIssuers;
  /** Each lab cluster's CA certificate (PEM). */
  clusterCaPem: { source: string; destination: string };
  /** `[serving, ops]` ports for a component: those of the install it replaces when free, so its address stays (lab/install-restore.ts). */
  ports(component: string): Promise<[number, number]>;
  /** Start `node dist/cli/main.js <args>` detached, logging to <componentDir>/<name>.log; recorded so `lab down` stops it; `ports` is `[serving, ops]`. */
  startComponent(name: string, args: string[], env: Record<string, string>, ports: number[]): DaemonRecord;
  /** The same with a whole Node command line (flags and entry file), for components that run as their image does. */
  startNodeProcess(name: string, nodeArgs: string[], env: Record<string, string>, ports: number[]): DaemonRecord;
  progress(line: string): void;
  /** Addresses installers publish for the ones after them (`aggregator`, `synchronizer`, ...). */
  published: Record<string, string>;
}

/** The namespace lab install labels for injection, with one sidecar standing in for an injected pod. */
export const LAB_APPS_NAMESPACE = 'lab-apps';
