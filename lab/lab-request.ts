/**
 * What `lab up` was asked for, checked in full before anything runs or stops, and compared with the
 * lab that is already there, so a typo never replaces a working lab.
 */
import { BridgeError } from '../lib/errors.js';
import type { ControlPlaneState } from './control-plane.js';
import { LAB_LAYOUT } from './lab-files.js';
import { DEFAULT_KUBERNETES_VERSION, parseKubernetesVersion } from './versions.js';

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';

export interface LabRequest {
  kubernetesVersion: string;
  sourcePort?: number;
  destinationPort?: number;
  sourceServiceCidr: string;
  destinationServiceCidr: string;
  /** Each cluster gets a real node (kubelet, containerd, runc) beside kwok's fake one. */
  realNode: boolean;
}

export interface LabRequestInput {
  kubernetesVersion?: string;
  sourcePort?: number;
  destinationPort?: number;
  sourceServiceCidr?: string;
  destinationServiceCidr?: string;
  realNode?: boolean;
}

/** An IPv4 service range kube-apiserver accepts: a network address with a /12 to /28 prefix. */
export function checkServiceCidr(cidr: string, flag: string): string {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = match ? match.slice(1, 5).map(Number) : [];
  const prefix = match ? Number(match[5]) : -1;
  const problem =
    !match || octets.some((o) => o > 255)
      ? 'is not an IPv4 CIDR'
      : prefix < 12 || prefix > 28
        ? 'must have a prefix between /12 and /28'
        : octets.reduce((n, o) => n * 256 + o, 0) % 2 ** (32 - prefix) !== 0
          ? 'has host bits set'
          : undefined;
  if (problem) throw new BridgeError('BRIDGE_ERR_USAGE', `${flag} ${problem}: "${cidr}"`, { fix: `pass a network like ${flag} ${DEFAULT_SERVICE_CIDR}` });
  return cidr;
}

export function checkKubernetesVersion(version: string): string {
  if (!parseKubernetesVersion(version)) {
    throw new BridgeError('BRIDGE_ERR_USAGE', `--k8s-version must be a Kubernetes release like ${DEFAULT_KUBERNETES_VERSION}, got "${version}"`, {
      fix: `pass --k8s-version ${DEFAULT_KUBERNETES_VERSION}, or omit it`,
    });
  }
  return version;
}

export function checkLabRequest(input: LabRequestInput): LabRequest {
  const kubernetesVersion = checkKubernetesVersion(input.kubernetesVersion ?? DEFAULT_KUBERNETES_VERSION);
  if (input.sourcePort && input.sourcePort === input.destinationPort) {
    throw new BridgeError('BRIDGE_ERR_USAGE', `--source-port and --destination-port are both ${input.sourcePort}`, {
      fix: 'give the two API servers different ports, or omit one',
    });
  }
  return {
    kubernetesVersion,
    // Port 0 asks for any free port, which is what an absent port gets.
    sourcePort: input.sourcePort || undefined,
    destinationPort: input.destinationPort || undefined,
    sourceServiceCidr: checkServiceCidr(input.sourceServiceCidr ?? DEFAULT_SERVICE_CIDR, '--source-service-cidr'),
    destinationServiceCidr: checkServiceCidr(input.destinationServiceCidr ?? DEFAULT_SERVICE_CIDR, '--destination-service-cidr'),
    realNode: input.realNode ?? false,
  };
}

/** How a running lab differs from a request, one phrase per difference ([] when it matches). */
export function labDifferences(
  running: { layout?: number; kubernetesVersion: string; clusters: Record<'source' | 'destination', ControlPlaneState> },
  request: LabRequest,
): string[] {
  const differences: string[] = [];
  const layout = running.layout ?? 1;
  if (layout !== LAB_LAYOUT) differences.push(`it was set up by an older cluster-bridge (lab layout ${layout}, this one needs ${LAB_LAYOUT})`);
  if (running.kubernetesVersion !== request.kubernetesVersion) differences.push(`it runs ${running.kubernetesVersion}, not ${request.kubernetesVersion}`);
  const { source, destination } = running.clusters;
  if (request.sourcePort !== undefined && source.apiserverPort !== request.sourcePort)
    differences.push(`its source API server listens on ${source.apiserverPort}, not ${request.sourcePort}`);
  if (request.destinationPort !== undefined && destination.apiserverPort !== request.destinationPort) {
    differences.push(`its destination API server listens on ${destination.apiserverPort}, not ${request.destinationPort}`);
  }
  if (source.serviceCidr !== request.sourceServiceCidr) differences.push(`its source service range is ${source.serviceCidr}, not ${request.sourceServiceCidr}`);
  if (destination.serviceCidr !== request.destinationServiceCidr)
    differences.push(`its destination service range is ${destination.serviceCidr}, not ${request.destinationServiceCidr}`);
  const hasRealNode = source.realNode !== undefined;
  if (hasRealNode !== request.realNode) differences.push(hasRealNode ? 'it has real nodes (--real-node)' : 'it has no real nodes (--real-node)');
  return differences;
}
