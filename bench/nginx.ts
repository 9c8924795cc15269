/** nginx as the benchmarks' side-by-side peer: a TLS reverse proxy doing the same hop. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BridgeError } from '../lib/errors.js';

export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function nginxConfig(dir: string, port: number, upstreamHost: string): string {
  return `worker_processes 1;
error_log ${dir}/nginx-error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  upstream apiserver { server ${upstreamHost}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${dir}/tls.crt;
    ssl_certificate_key ${dir}/tls.key;
    keepalive_requests 100000;
    location / {
      proxy_pass https://apiserver;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_ssl_trusted_certificate ${dir}/ca.crt;
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 3600s;
    }
  }
}
`;
}

/** nginx is the side-by-side peer: without it there is nothing to compare against, so stop before touching the lab. */
export function requireNginx(): void {
  const found = spawnSync('nginx', ['-v'], { stdio: 'ignore' });
  if (found.error) {
    throw new BridgeError('BRIDGE_ERR_CONFIG', 'the benchmark needs nginx on PATH as its side-by-side peer', { fix: 'apt-get install nginx' });
  }
}
