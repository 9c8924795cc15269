/**
 * Builds the product images from the repository's Dockerfiles on the lab's Debian bases (build
 * arguments BUILD_BASE and RUNTIME_BASE; the Dockerfiles' defaults stay the official Node images for
 * users) and exports each as a docker-archive under the cache, for `ctr images import` on a lab node.
 * buildah's layer cache makes an unchanged rebuild a lookup; an export is skipped when the tarball
 * already holds the image's ID.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, repoRoot } from '../../lib/process/paths.js';
import { BUILD_CA_PATH, ensureBaseImages, type BaseImages } from './base.js';
import { exportDockerArchive, imageId } from './buildah.js';
import { ensureImageTools, runTool } from './tool.js';

/** Every image the manifests and the webhook's injection reference, and the Dockerfile that builds it. */
export const PRODUCT_IMAGES = [
  { name: 'cluster-bridge/webhook', dockerfile: 'Dockerfile.webhook' },
  { name: 'cluster-bridge/sidecar', dockerfile: 'Dockerfile.sidecar' },
] as const;

export type ProductImageName = (typeof PRODUCT_IMAGES)[number]['name'];

export interface BuiltImage {
  reference: string;
  id: string;
  tarball: string;
  tarballBytes: number;
}

export interface ImageBuild {
  bases: BaseImages;
  images: Record<ProductImageName, BuiltImage>;
  log: string;
  seconds: number;
}

export function imagesCacheDir(): string {
  return join(cacheDir(), 'images');
}

export function productVersion(): string {
  return (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** The host's CA bundle, mounted into build steps so npm trusts what the host trusts. */
function hostCaMount(): string[] {
  return existsSync(BUILD_CA_PATH) ? ['-v', `${BUILD_CA_PATH}:${BUILD_CA_PATH}:ro`] : [];
}

async function buildOne(dockerfile: string, reference: string, bases: BaseImages, log: string): Promise<string> {
  const root = repoRoot();
  await runTool(
    'buildah',
    [
      'build',
      '--isolation',
      'chroot',
      '--layers',
      '--pull=never',
      '--ignorefile',
      join(root, `${dockerfile}.dockerignore`),
      '--build-arg',
      `BUILD_BASE=${bases.build}`,
      '--build-arg',
      `RUNTIME_BASE=${bases.runtime}`,
      ...hostCaMount(),
      '-f',
      join(root, dockerfile),
      '-t',
      reference,
      root,
    ],
    log,
  );
  return (await imageId(reference))!;
}

/** Exports unless the tarball beside its `.id` file already holds this image. */
export async function exportOnce(reference: string, id: string, tarball: string, log: string): Promise<void> {
  const idFile = `${tarball}.id`;
  if (existsSync(tarball) && existsSync(idFile) && readFileSync(idFile, 'utf8') === id) return;
  const partial = `${tarball}.partial`;
  await runTool('rm', ['-f', partial], log);
  await exportDockerArchive(reference, partial, log);
  renameSync(partial, tarball);
  writeFileSync(idFile, id);
}

/** Builds the bases (when their key is new) and every product image, then exports the tarballs. */
export async function buildProductImages(options: { only?: ProductImageName[] } = {}): Promise<ImageBuild> {
  const started = Date.now();
  ensureImageTools();
  const dir = imagesCacheDir();
  mkdirSync(dir, { recursive: true });
  const log = join(dir, 'build.log');
  const bases = await ensureBaseImages(dir, log);
  const version = productVersion();
  const images = {} as Record<ProductImageName, BuiltImage>;
  // One after the other: the second build's first steps (npm install, tsc) come from the first's layer cache.
  for (const { name, dockerfile } of PRODUCT_IMAGES) {
    if (options.only && !options.only.includes(name)) continue;
    const reference = `${name}:${version}`;
    const id = await buildOne(dockerfile, reference, bases, log);
    const tarball = join(dir, `${name.split('/').at(-1)}-${version}.tar`);
    await exportOnce(reference, id, tarball, log);
    images[name] = { reference, id, tarball, tarballBytes: statSync(tarball).size };
  }
  return { bases, images, log, seconds: (Date.now() - started) / 1000 };
}
