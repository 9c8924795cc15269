/**
 * The destination's kube-controller-manager controllers that must be off while pods run in the source
 * (DESIGN.md section 3, "Controllers"): they would act on mirrored workload objects, create and count
 * the destination's own ReplicaSets and pods, and write status that is the source's. The garbage
 * collector, namespace and serviceaccount controllers stay on: the destination needs them for its own
 * namespaces and credentials. Dependency-free: the lab starts the destination with it and preflight
 * names it in its fix.
 */

/** Controller names as kube-controller-manager 1.28 and later accepts them (`--help` lists them). */
export const WORKLOAD_CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
  'job-controller',
  'cronjob-controller',
  'endpoints-controller',
  'endpointslice-controller',
  'endpointslice-mirroring-controller',
] as const;

/** The flag the destination's kube-controller-manager runs with: every default controller but the workload ones. */
export const DESTINATION_CONTROLLERS_FLAG = `--controllers=*,${WORKLOAD_CONTROLLERS.map((name) => `-${name}`).join(',')}`;
