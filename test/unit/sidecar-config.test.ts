import { describe, expect, it } from '@jest/globals';
import { loadSidecarConfig } from '../../sidecar/config.js';

const caFile = process.execPath; // any file that exists
const valid = { BRIDGE_UPSTREAM: 'https://aggregator.cluster-bridge-system.svc:443', BRIDGE_LOCAL_APISERVER: '10.96.0.1:443', BRIDGE_LOCAL_CA_FILE: caFile };

describe('loadSidecarConfig', () => {
  it('applies the contract defaults', () => {
    const config = loadSidecarConfig(valid);
    expect(config).toMatchObject({
      listenHost: '127.0.0.1',
      listenPort: 16443,
      opsHost: '127.0.0.1',
      opsPort: 16080,
      upstream: { host: 'aggregator.cluster-bridge-system.svc', port: 443 },
      localApiserver: { host: '10.96.0.1', port: 443 },
      failMode: 'local',
      tlsDir: '/var/run/cluster-bridge/tls',
    });
  });

  it.each([
    ['no upstream', { BRIDGE_UPSTREAM: '' }, /BRIDGE_UPSTREAM is required/],
    ['plain-HTTP upstream', { BRIDGE_UPSTREAM: 'http://a:80' }, /BRIDGE_UPSTREAM must be https/],
    ['upstream without a port', { BRIDGE_UPSTREAM: 'https://a' }, /BRIDGE_UPSTREAM must be host:port/],
    ['unknown fail mode', { BRIDGE_FAIL_MODE: 'open' }, /BRIDGE_FAIL_MODE must be one of local, closed/],
    ['mode local without a local API server', { BRIDGE_LOCAL_APISERVER: '' }, /BRIDGE_LOCAL_APISERVER is required/],
    ['missing cluster CA', { BRIDGE_LOCAL_CA_FILE: '/nonexistent/ca.crt' }, /BRIDGE_LOCAL_CA_FILE names a file that does not exist/],
    ['bad port', { BRIDGE_LISTEN_PORT: '70000' }, /BRIDGE_LISTEN_PORT must be a port/],
    ['bad timeout', { BRIDGE_CONNECT_TIMEOUT_MS: '-1' }, /BRIDGE_CONNECT_TIMEOUT_MS must be a positive number/],
    ['unknown local routing mode', { BRIDGE_LOCAL_ROUTING: 'auto' }, /BRIDGE_LOCAL_ROUTING must be one of on, off/],
    [
      'local routing without a local API server',
      { BRIDGE_LOCAL_ROUTING: 'on', BRIDGE_FAIL_MODE: 'closed', BRIDGE_LOCAL_APISERVER: '' },
      /BRIDGE_LOCAL_ROUTING is on but/,
    ],
    ['a table bound of zero', { BRIDGE_ROUTING_TABLE_MAX_AGE_SECONDS: '0' }, /BRIDGE_ROUTING_TABLE_MAX_AGE_SECONDS must be a positive number/],
    ['a fractional write buffer', { BRIDGE_LOCAL_WRITE_MAX_BYTES: '10.5' }, /BRIDGE_LOCAL_WRITE_MAX_BYTES must be a whole number/],
  ])('rejects %s with BRIDGE_ERR_CONFIG', (_name, override, message) => {
    expect(() => loadSidecarConfig({ ...valid, ...override })).toThrow(message);
    try {
      loadSidecarConfig({ ...valid, ...override });
    } catch (err) {
      expect((err as { code: string }).code).toBe('BRIDGE_ERR_CONFIG');
    }
  });

  it('allows no local API server in fail mode closed', () => {
    expect(loadSidecarConfig({ BRIDGE_UPSTREAM: 'https://a:1', BRIDGE_FAIL_MODE: 'closed' }).localApiserver).toBeUndefined();
  });

  it.each([
    ['on by default with a local API server', valid, true],
    ['off on request', { ...valid, BRIDGE_LOCAL_ROUTING: 'off' }, false],
    ['off by default without one', { BRIDGE_UPSTREAM: 'https://a:1', BRIDGE_FAIL_MODE: 'closed' }, false],
  ] as const)('local routing: %s', (_name, env, on) => {
    const config = loadSidecarConfig(env);
    expect(config.localRouting).toBe(on);
    expect(config).toMatchObject({ routingTableMaxAgeMs: 10_000, localWriteMaxBytes: 1024 * 1024 });
  });
});
