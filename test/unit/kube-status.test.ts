import { describe, expect, it } from '@jest/globals';
import { goJsonBody } from '../../lib/kube/go-json.js';
import { kubeStatusResponse } from '../../lib/kube/status.js';

describe("the bridge's own Status answers, as kube-apiserver writes them", () => {
  it("a 409 Conflict: Go's field order, details, the trailing newline", () => {
    const { body, headers } = kubeStatusResponse(409, 'Conflict', 'Operation cannot be fulfilled on leases.coordination.k8s.io "l": modified', undefined, {
      kind: 'leases',
      group: 'coordination.k8s.io',
      name: 'l',
    });
    expect(body).toBe(
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on leases.coordination.k8s.io \\"l\\": modified",' +
        '"reason":"Conflict","details":{"name":"l","group":"coordination.k8s.io","kind":"leases"},"code":409}\n',
    );
    expect(headers['content-type']).toBe('application/json');
    expect(headers['content-length']).toBe(Buffer.byteLength(body));
  });

  it('a 503 with Retry-After carries details.retryAfterSeconds, empty details fields are left out', () => {
    const { body, headers } = kubeStatusResponse(503, 'ServiceUnavailable', 'retry', 1, { group: '' });
    expect(body).toBe(
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"retry","reason":"ServiceUnavailable","details":{"retryAfterSeconds":1},"code":503}\n',
    );
    expect(headers['retry-after']).toBe(1);
  });

  it("Go's HTML escaping", () => {
    expect(goJsonBody({ m: '<a> & \u2028' })).toBe('{"m":"\\u003ca\\u003e \\u0026 \\u2028"}\n');
  });
});
