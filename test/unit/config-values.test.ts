import { describe, expect, it } from '@jest/globals';
import { hostPort, portNumber, readHostPort, readPort } from '../../lib/process/config.js';
import { parseFlags, parseListenPortFlag } from '../../lib/process/flags.js';
import { checkServiceCidr, labDifferences, checkLabRequest } from '../../lab/lab-request.js';
import { LAB_LAYOUT } from '../../lab/lab-files.js';

describe('one reading of ports and addresses', () => {
  it.each([
    ['0', 'listen', 0],
    ['0', 'connect', 'must be a port number 1-65535, got "0"'],
    ['65535', 'connect', 65535],
    ['65536', 'listen', 'must be a port number 0-65535 (0: any free port), got "65536"'],
    ['8o80', 'listen', 'must be a port number 0-65535 (0: any free port), got "8o80"'],
    ['-1', 'connect', 'must be a port number 1-65535, got "-1"'],
    ['1e3', 'connect', 'must be a port number 1-65535, got "1e3"'],
    ['', 'connect', 'must be a port number 1-65535, got ""'],
  ] as const)('readPort(%j, %s) is %j', (raw, purpose, expected) => {
    expect(readPort(raw, purpose)).toEqual(expected);
  });

  it.each([
    ['a.example:443', { host: 'a.example', port: 443 }],
    ['https://a.example:443', { host: 'a.example', port: 443 }],
    ['https://a.example:443/', { host: 'a.example', port: 443 }],
    ['10.1.2.3:6443', { host: '10.1.2.3', port: 6443 }],
    ['[fd00::1]:8443', { host: 'fd00::1', port: 8443 }],
    ['https://[::ffff:10.0.0.1]:443', { host: '::ffff:10.0.0.1', port: 443 }],
  ])('readHostPort(%j) reads the host and port', (raw, expected) => {
    expect(readHostPort(raw)).toEqual(expected);
  });

  it.each(['a.example', 'fd00::1:443', '[fd00::1]', 'http://a:80', 'a:b', 'a:0', 'a:99999', 'https://a:443/api', ':443'])(
    'readHostPort(%j) names the problem',
    (raw) => {
      expect(readHostPort(raw)).toMatch(/^must be host:port, \[ipv6\]:port or https:\/\/host:port, got/);
    },
  );

  it('reads the environment and flags with the same rule', () => {
    expect(portNumber({ P: '0' }, 'P')).toBe(0);
    expect(() => portNumber({ P: '70000' }, 'P')).toThrow(/P must be a port number 0-65535/);
    expect(parseListenPortFlag('lab up', '0', '--source-port')).toBeUndefined();
    expect(() => parseListenPortFlag('lab up', '70000', '--source-port')).toThrow(/--source-port must be a port number 0-65535/);
    expect(hostPort({ U: 'https://[fd00::2]:443' }, 'U')).toEqual({ host: 'fd00::2', port: 443 });
    expect(() => hostPort({ U: 'a:0' }, 'U')).toThrow(expect.objectContaining({ code: 'BRIDGE_ERR_CONFIG' }));
  });
});

describe('flags', () => {
  const options = { name: { type: 'string' }, tag: { type: 'string', multiple: true }, on: { type: 'boolean' } } as const;

  it('refuses a single-valued flag given twice, but not a multiple one', () => {
    expect(() => parseFlags('x', ['--name', 'a', '--name=b'], options)).toThrow('x: --name is given more than once');
    expect(parseFlags('x', ['--tag', 'a', '--tag', 'b'], options).tag).toEqual(['a', 'b']);
    expect(() => parseFlags('x', ['--on', '--on'], options)).toThrow('x: --on is given more than once');
  });

  it('refuses empty values and keeps parseArgs errors on one line', () => {
    expect(() => parseFlags('x', ['--name', ' '], options)).toThrow('x: --name is empty');
    let message = '';
    try {
      parseFlags('x', ['--name', '-v'], options);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^x: Option '--name' argument is ambiguous\. Did you forget/);
    expect(message).not.toContain('\n');
  });
});

describe('lab requests', () => {
  it.each([
    ['10.96.0.0/16', undefined],
    ['10.96.0.0/12', undefined],
    ['192.168.0.0/28', undefined],
    ['10.96.0.0/11', 'must have a prefix between /12 and /28'],
    ['10.96.0.0/29', 'must have a prefix between /12 and /28'],
    ['10.96.1.0/16', 'has host bits set'],
    ['10.300.0.0/16', 'is not an IPv4 CIDR'],
    ['10.96.0.0', 'is not an IPv4 CIDR'],
  ])('service range %s', (cidr, problem) => {
    if (problem) expect(() => checkServiceCidr(cidr, '--x')).toThrow(`--x ${problem}`);
    else expect(checkServiceCidr(cidr, '--x')).toBe(cidr);
  });

  it('names every way a running lab differs from a request, and none when it matches', () => {
    const cluster = (port: number, serviceCidr: string) => ({
      name: 'source' as const,
      server: '',
      apiserverPort: port,
      serviceCidr,
      kubeconfig: '',
      daemons: [],
    });
    const running = {
      layout: LAB_LAYOUT,
      kubernetesVersion: 'v1.36.3',
      clusters: { source: cluster(6443, '10.96.0.0/16'), destination: { ...cluster(6444, '10.96.0.0/16'), name: 'destination' as const } },
    };
    expect(labDifferences(running, checkLabRequest({}))).toEqual([]);
    expect(labDifferences(running, checkLabRequest({ sourcePort: 6443, destinationPort: 0 }))).toEqual([]);
    expect(labDifferences(running, checkLabRequest({ kubernetesVersion: 'v1.28.15', destinationPort: 7000, sourceServiceCidr: '10.0.0.0/16' }))).toEqual([
      'it runs v1.36.3, not v1.28.15',
      'its destination API server listens on 6444, not 7000',
      'its source service range is 10.96.0.0/16, not 10.0.0.0/16',
    ]);
    expect(labDifferences({ ...running, layout: undefined }, checkLabRequest({}))).toEqual([
      `it was set up by an older cluster-bridge (lab layout 1, this one needs ${LAB_LAYOUT})`,
    ]);
  });
});
