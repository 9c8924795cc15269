// The real node's pure parts (lab/node/): the pod range it picks, the names it gives host objects, the
// DNS stand-in's packets, the iptables rules, the mounts cleanup finds, the configs it writes, and how
// `lab up` compares a lab with and without real nodes. test/e2e/real-node.test.ts runs the node itself.
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { answerQuery, buildAnswer, parseQuery, serviceOf } from '../../lab/node/cluster-dns.js';
import { renderContainerdConfig } from '../../lab/node/containerd-config.js';
import { mountsUnder } from '../../lab/node/host-cleanup.js';
import { missingNodePackages, NODE_PACKAGES } from '../../lab/node/host-packages.js';
import { imageMetadata } from '../../lab/node/images.js';
import { renderKubeletConfig } from '../../lab/node/kubelet-config.js';
import { nodeHostNames, pickPodSubnet, renderCniConfig } from '../../lab/node/pod-network.js';
import { criPluginStatus } from '../../lab/node/real-node.js';
import { renderServiceChain, serviceRouteJumps, serviceRoutes } from '../../lab/node/service-routes.js';
import { checkLabRequest, labDifferences } from '../../lab/lab-request.js';
import { LAB_LAYOUT } from '../../lab/lab-files.js';
import type { ControlPlaneState } from '../../lab/control-plane.js';
import type { RealNodeState } from '../../lab/node/real-node.js';

/** A DNS query as a resolver sends it: id, RD set, one question. */
function query(name: string, type = 1, id = 0x1234): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, type, 0, 1])]);
}

describe('pod range and host names', () => {
  it('picks the first 10.244.N.0/24 no route mentions', () => {
    const routes = 'default via 10.0.0.1 dev eth0\n10.244.1.0/24 dev cbaaaaaas proto kernel scope link src 10.244.1.1\n10.244.2.0/24 dev cbx src 10.244.2.1\n';
    expect(pickPodSubnet(routes)).toEqual({ cidr: '10.244.3.0/24', gateway: '10.244.3.1' });
    expect(pickPodSubnet(routes, ['10.244.3.0/24']).cidr).toBe('10.244.4.0/24');
    expect(pickPodSubnet('')).toEqual({ cidr: '10.244.1.0/24', gateway: '10.244.1.1' });
  });

  it('fails when every range is taken', () => {
    const all = Array.from({ length: 255 }, (_, n) => `10.244.${n}.0/24 dev x`).join('\n');
    expect(() => pickPodSubnet(all)).toThrow(/every 10.244.N.0\/24/);
  });

  it('names host objects per lab folder and cluster, within the kernel limits', () => {
    const a = nodeHostNames('/work/a/.lab', 'source');
    const b = nodeHostNames('/work/b/.lab', 'source');
    const d = nodeHostNames('/work/a/.lab', 'destination');
    expect(new Set([a.bridge, b.bridge, d.bridge]).size).toBe(3);
    expect(new Set([a.chain, b.chain, d.chain]).size).toBe(3);
    expect(a.bridge.length).toBeLessThanOrEqual(15); // IFNAMSIZ - 1
    expect(a.chain.length).toBeLessThanOrEqual(28); // iptables chain names
    expect(a.cgroupRoot).toMatch(/^\/cluster-bridge-[0-9a-f]{6}-source$/);
  });

  it('writes a CNI config on the lab bridge with the picked range and no masquerade', () => {
    const conf = JSON.parse(renderCniConfig('cbabc123s', { cidr: '10.244.5.0/24', gateway: '10.244.5.1' }, '/lab/ipam')) as {
      plugins: { type: string; bridge?: string; ipMasq?: boolean; ipam?: { ranges: { subnet: string; gateway: string }[][]; dataDir: string } }[];
    };
    const bridge = conf.plugins.find((p) => p.type === 'bridge')!;
    expect(bridge.bridge).toBe('cbabc123s');
    expect(bridge.ipMasq).toBe(false);
    expect(bridge.ipam?.ranges).toEqual([[{ subnet: '10.244.5.0/24', gateway: '10.244.5.1' }]]);
    expect(bridge.ipam?.dataDir).toBe('/lab/ipam');
  });
});

describe('service routes', () => {
  const svc = (namespace: string, name: string, clusterIP: string, ports: { name?: string; port: number }[]) => ({
    metadata: { name, namespace },
    spec: { clusterIP, ports },
  });
  const slice = (namespace: string, service: string, ports: { name?: string; port: number }[], endpoints: [string, boolean][]) => ({
    metadata: { namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports,
    endpoints: endpoints.map(([address, ready]) => ({ addresses: [address], conditions: { ready } })),
  });

  it('routes each ClusterIP port to its ready endpoints by port name, and kubernetes to the loopback API server', () => {
    const routes = serviceRoutes(
      [
        svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443 }]),
        svc('app', 'web', '10.96.0.20', [
          { name: 'http', port: 80 },
          { name: 'metrics', port: 9090 },
        ]),
        svc('app', 'headless', 'None', [{ port: 80 }]),
        svc('app', 'empty', '10.96.0.30', [{ port: 80 }]),
      ],
      [
        slice(
          'app',
          'web',
          [
            { name: 'http', port: 8080 },
            { name: 'metrics', port: 9100 },
          ],
          [
            ['10.244.1.5', true],
            ['10.244.1.6', false],
            ['10.244.1.7', true],
          ],
        ),
        slice('other', 'web', [{ name: 'http', port: 1 }], [['10.244.9.9', true]]),
      ],
      31000,
    );
    expect(routes).toEqual([
      { clusterIp: '10.96.0.1', port: 443, protocol: 'TCP', targets: ['127.0.0.1:31000'] },
      { clusterIp: '10.96.0.20', port: 80, protocol: 'TCP', targets: ['10.244.1.5:8080', '10.244.1.7:8080'] },
      { clusterIp: '10.96.0.20', port: 9090, protocol: 'TCP', targets: ['10.244.1.5:9100', '10.244.1.7:9100'] },
      { clusterIp: '10.96.0.30', port: 80, protocol: 'TCP', targets: [] },
    ]);
  });

  it('writes one chain that spreads over the endpoints and refuses ports without any', () => {
    const text = renderServiceChain('CB-abc123-s', [
      { clusterIp: '10.96.0.20', port: 80, protocol: 'TCP', targets: ['10.244.1.5:8080', '10.244.1.7:8080'] },
      { clusterIp: '10.96.0.30', port: 80, protocol: 'TCP', targets: [] },
    ]);
    expect(text.split('\n')).toEqual([
      '*nat',
      ':CB-abc123-s - [0:0]',
      '-A CB-abc123-s -d 10.96.0.20/32 -p tcp --dport 80 -m statistic --mode random --probability 0.50000 -j DNAT --to-destination 10.244.1.5:8080',
      '-A CB-abc123-s -d 10.96.0.20/32 -p tcp --dport 80 -j DNAT --to-destination 10.244.1.7:8080',
      '-A CB-abc123-s -d 10.96.0.30/32 -p tcp --dport 80 -j DNAT --to-destination 127.0.0.1:1',
      'COMMIT',
      '',
    ]);
  });

  it('sends only the bridge traffic through the node chains, and forwards it back onto the bridge only', () => {
    const jumps = serviceRouteJumps('cbabc123s', 'CB-abc123-s').map((r) => r.join(' '));
    expect(jumps).toEqual([
      '-t nat -A PREROUTING -i cbabc123s -j CB-abc123-s',
      '-t nat -A POSTROUTING -o cbabc123s -m conntrack --ctstate DNAT -j MASQUERADE',
      '-t filter -A CB-abc123-s -o cbabc123s -j ACCEPT',
      '-t filter -A CB-abc123-s -j DROP',
      '-t filter -I FORWARD -i cbabc123s -j CB-abc123-s',
    ]);
  });
});

describe('DNS stand-in', () => {
  const lookup = async (namespace: string, service: string) => (namespace === 'default' && service === 'kubernetes' ? '10.96.0.1' : undefined);

  it('reads a query and names the Service it asks for', () => {
    const q = parseQuery(query('Kubernetes.Default.svc.cluster.local'))!;
    expect(q).toMatchObject({ id: 0x1234, name: 'kubernetes.default.svc.cluster.local', type: 1, recursionDesired: true });
    expect(serviceOf(q.name)).toEqual({ service: 'kubernetes', namespace: 'default' });
    expect(serviceOf('kubernetes.default.svc')).toBeUndefined();
    expect(serviceOf('example.org')).toBeUndefined();
    expect(parseQuery(Buffer.from([1, 2, 3]))).toBeUndefined();
  });

  it('answers A with the ClusterIP, NODATA for other types, NXDOMAIN for unknown names', async () => {
    const a = (await answerQuery(query('kubernetes.default.svc.cluster.local'), lookup))!;
    expect(a.readUInt16BE(0)).toBe(0x1234);
    expect(a.readUInt16BE(2) & 0x800f).toBe(0x8000); // a response, rcode 0
    expect(a.readUInt16BE(6)).toBe(1);
    expect([...a.subarray(a.length - 4)]).toEqual([10, 96, 0, 1]);
    const aaaa = (await answerQuery(query('kubernetes.default.svc.cluster.local', 28), lookup))!;
    expect(aaaa.readUInt16BE(2) & 0xf).toBe(0);
    expect(aaaa.readUInt16BE(6)).toBe(0);
    const missing = (await answerQuery(query('nope.default.svc.cluster.local'), lookup))!;
    expect(missing.readUInt16BE(2) & 0xf).toBe(3);
    expect(missing.readUInt16BE(6)).toBe(0);
  });

  it('echoes the question so resolvers match the answer to it', () => {
    const q = parseQuery(query('a.b.svc.cluster.local'))!;
    const answer = buildAnswer(q, 0, ['10.96.0.10']);
    expect(answer.subarray(12, 12 + q.question.length).equals(q.question)).toBe(true);
  });
});

describe('cleanup and configs', () => {
  it('finds the mounts under the node folder, deepest first, and no others', () => {
    const mountinfo = [
      '22 1 254:0 / / rw - ext4 /dev/vda rw',
      '90 22 0:50 / /lab/node/containerd/state/netns/cni-1 rw - nsfs nsfs rw',
      '91 22 0:51 / /lab/node/kubelet/pods/x/volumes/kube\\040api-access rw - tmpfs tmpfs rw',
      '92 22 0:52 / /lab/node-other/y rw - tmpfs tmpfs rw',
      '93 22 0:53 / /lab/node rw - tmpfs tmpfs rw',
    ].join('\n');
    expect(mountsUnder('/lab/node', mountinfo)).toEqual([
      '/lab/node/kubelet/pods/x/volumes/kube api-access',
      '/lab/node/containerd/state/netns/cni-1',
      '/lab/node',
    ]);
  });

  it('lists the Debian packages whose files are missing', () => {
    expect(missingNodePackages(() => true)).toEqual([]);
    expect(missingNodePackages((path) => path !== '/usr/lib/cni/bridge')).toEqual(['containernetworking-plugins']);
    expect(missingNodePackages(() => false)).toEqual(NODE_PACKAGES.map(([pkg]) => pkg));
  });

  it('reads the CRI plugin status from `ctr plugins ls`', () => {
    const list = 'TYPE                  ID   PLATFORMS      STATUS\nio.containerd.grpc.v1 containers -  ok\nio.containerd.grpc.v1 cri  linux/amd64    error\n';
    expect(criPluginStatus(list)).toBe('error');
    expect(criPluginStatus(list.replace('error', 'ok'))).toBe('ok');
    expect(criPluginStatus('TYPE ID PLATFORMS STATUS\n')).toBeUndefined();
  });

  it('gives containerd its own socket, folders, runc root and the local sandbox image', () => {
    const toml = renderContainerdConfig({
      dir: '/lab/node',
      socket: '/lab/node/containerd.sock',
      cniConfDir: '/lab/node/cni',
      sandboxImage: 'localhost/x/pause:lab',
    });
    for (const line of [
      'root = "/lab/node/containerd/root"',
      'state = "/lab/node/containerd/state"',
      'address = "/lab/node/containerd.sock"',
      'sandbox_image = "localhost/x/pause:lab"',
      'Root = "/lab/node/runc"',
      'SystemdCgroup = false',
      'netns_mounts_under_state_dir = true',
      'conf_dir = "/lab/node/cni"',
    ])
      expect(toml).toContain(line);
  });

  it('configures the kubelet for cgroup v1 with cgroupfs, its own cgroup root and pod log folder, and the lab DNS', () => {
    const config = parse(
      renderKubeletConfig({
        nodeIp: '10.244.1.1',
        port: 20250,
        healthzPort: 20248,
        cgroupRoot: '/cluster-bridge-abc123-source',
        containerdSocket: '/lab/node/containerd.sock',
        clientCaFile: '/lab/pki/ca.crt',
        tlsCertFile: '/lab/node/s.crt',
        tlsKeyFile: '/lab/node/s.key',
        clusterDns: '10.244.1.1',
        resolvConf: '',
        podLogsDir: '/lab/node/pod-logs',
      }),
    ) as Record<string, unknown>;
    expect(config).toMatchObject({
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      cgroupRoot: '/cluster-bridge-abc123-source',
      containerRuntimeEndpoint: 'unix:///lab/node/containerd.sock',
      clusterDNS: ['10.244.1.1'],
      podLogsDir: '/lab/node/pod-logs',
      readOnlyPort: 0,
      makeIPTablesUtilChains: false,
      authentication: { anonymous: { enabled: false } },
      authorization: { mode: 'Webhook' },
    });
  });

  it('describes a single-layer image by its layer digest and name', () => {
    const meta = imageMetadata('localhost/x/pause:lab', 'ab'.repeat(32), { Entrypoint: ['/pause'] });
    expect(meta.config.rootfs.diff_ids).toEqual([`sha256:${'ab'.repeat(32)}`]);
    expect(meta.config.config.Entrypoint).toEqual(['/pause']);
    expect(meta.manifest).toEqual([{ Config: 'config.json', RepoTags: ['localhost/x/pause:lab'], Layers: ['layer.tar'] }]);
  });
});

describe('lab up --real-node against a running lab', () => {
  const cluster = (name: 'source' | 'destination', realNode?: RealNodeState): ControlPlaneState => ({
    name,
    server: 'https://127.0.0.1:1',
    apiserverPort: 1,
    serviceCidr: '10.96.0.0/16',
    kubeconfig: '/k',
    daemons: [],
    ...(realNode ? { realNode } : {}),
  });
  const node = { name: 'lab-real-node' } as RealNodeState;
  const running = (withNode: boolean) => ({
    layout: LAB_LAYOUT,
    kubernetesVersion: 'v1.36.3',
    clusters: { source: cluster('source', withNode ? node : undefined), destination: cluster('destination', withNode ? node : undefined) },
  });

  it('is a difference either way, and none when both match', () => {
    expect(labDifferences(running(false), checkLabRequest({ realNode: true }))).toEqual(['it has no real nodes (--real-node)']);
    expect(labDifferences(running(true), checkLabRequest({}))).toEqual(['it has real nodes (--real-node)']);
    expect(labDifferences(running(true), checkLabRequest({ realNode: true }))).toEqual([]);
    expect(labDifferences(running(false), checkLabRequest({}))).toEqual([]);
  });
});
