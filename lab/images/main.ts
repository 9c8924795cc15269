/**
 * `npm run images`: builds the lab's Debian bases (cached by content key) and the product images, and
 * exports them as docker-archives under ~/.cache/cluster-bridge/images/ for `ctr images import`.
 */
import { errorMessage, isBridgeError } from '../../lib/errors.js';
import { buildProductImages } from './build-images.js';

try {
  const result = await buildProductImages();
  console.log(`bases: ${result.bases.runtime}, ${result.bases.build}${result.bases.built.length ? ' (built now)' : ' (cached)'}`);
  for (const image of Object.values(result.images)) {
    console.log(`${image.reference}  ${image.id.slice(0, 12)}  ${(image.tarballBytes / 1e6).toFixed(1)} MB  ${image.tarball}`);
  }
  console.log(`done in ${result.seconds.toFixed(1)} s (log: ${result.log})`);
} catch (err) {
  console.error(isBridgeError(err) ? err.toLine() : errorMessage(err));
  process.exitCode = 1;
}
