// The aggregator's reading of a connection's client certificate: a sidecar's namespace, nothing from an
// unverified certificate, and one certificate read per connection (getPeerCertificate rebuilds the
// certificate and its fingerprints on every call, and every request asks).
import { describe, expect, it } from '@jest/globals';
import type { TLSSocket } from 'node:tls';
import { SIDECAR_CLIENT_ORGANIZATION, SIDECAR_NAMESPACE_ORGANIZATION_PREFIX } from '../../certs/bridge-certs.js';
import { peerIdentity } from '../../aggregator/identity/identity.js';
import { COMPONENT_CLIENT_CA_NAME, SIDECAR_CLIENT_CA_NAME } from '../../certs/bridge-authority.js';

function connection(authorized: boolean, organizations: string[], issuer = SIDECAR_CLIENT_CA_NAME) {
  const socket = {
    authorized,
    reads: 0,
    getPeerCertificate() {
      socket.reads++;
      return { subject: { O: organizations.length === 1 ? organizations[0] : organizations }, issuer: { CN: issuer } };
    },
  };
  return socket;
}

describe('peerIdentity', () => {
  it("takes a sidecar's namespace from its certificate", () => {
    const sidecar = connection(true, [SIDECAR_CLIENT_ORGANIZATION, `${SIDECAR_NAMESPACE_ORGANIZATION_PREFIX}team-a`]);
    expect(peerIdentity(sidecar as unknown as TLSSocket)).toEqual({ sidecar: true, namespace: 'team-a' });
  });

  it('trusts no organization of a certificate the server did not verify, and none but the sidecar one', () => {
    expect(peerIdentity(connection(false, [SIDECAR_CLIENT_ORGANIZATION]) as unknown as TLSSocket)).toEqual({ sidecar: false });
    expect(peerIdentity(connection(true, ['system:masters']) as unknown as TLSSocket)).toEqual({ sidecar: false });
    // The sidecar organization counts only from the sidecars' intermediate.
    expect(peerIdentity(connection(true, [SIDECAR_CLIENT_ORGANIZATION], COMPONENT_CLIENT_CA_NAME) as unknown as TLSSocket)).toEqual({ sidecar: false });
  });

  it('reads the certificate once per connection, however many requests it carries', () => {
    const first = connection(true, [SIDECAR_CLIENT_ORGANIZATION]);
    const second = connection(true, [SIDECAR_CLIENT_ORGANIZATION, `${SIDECAR_NAMESPACE_ORGANIZATION_PREFIX}b`]);
    for (let i = 0; i < 5; i++) {
      expect(peerIdentity(first as unknown as TLSSocket)).toEqual({ sidecar: true });
      expect(peerIdentity(second as unknown as TLSSocket)).toEqual({ sidecar: true, namespace: 'b' });
    }
    expect([first.reads, second.reads]).toEqual([1, 1]);
  });
});
